"""Answers: questions about a stored document, or one-shot about a posted text."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from service.api.documents import load_document
from service.api.schemas import AnswerRequest, AskRequest
from service.api.sse import respond
from service.domain import Answer
from service.errors import InvalidInput
from service.pipeline.ingest import check_question, ingest
from service.pipeline.pipeline import Pipeline
from service.settings import Settings
from service.store.base import Documents


class AnswerController(Controller):
    tags = ["answers"]

    @post(
        "/v1/documents/{document_id:str}/answers",
        status_code=HTTP_200_OK,
        operation_id="answer_question",
        summary="Answer a question from a stored article, with cited spans",
        description="When the article does not say, `answerable` is false, `answer` null and "
        "`citations` empty. Send `Accept: text/event-stream` for server-sent events.",
    )
    async def answer_stored(
        self,
        request: Request[Any, Any, Any],
        document_id: FromPath[str],
        data: JSONBody[AnswerRequest],
        store: NamedDependency[Documents],
        pipeline: NamedDependency[Pipeline],
        settings: NamedDependency[Settings],
    ) -> Answer:
        question = check_question(data.question, settings.max_question_chars)
        document = await load_document(store, document_id)
        return await respond(
            request,
            lambda d, _: pipeline.answer(document, question, d, data.min_answerability),
        )

    @post(
        "/v1/ask",
        status_code=HTTP_200_OK,
        operation_id="ask",
        summary="One-shot question about a text (stored on the way) or a stored document",
        description="Give exactly one of `text` and `document_id`. Send `Accept: "
        "text/event-stream` for server-sent events.",
    )
    async def ask(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[AskRequest],
        store: NamedDependency[Documents],
        pipeline: NamedDependency[Pipeline],
        settings: NamedDependency[Settings],
    ) -> Answer:
        question = check_question(data.question, settings.max_question_chars)
        if (data.text is None) == (data.document_id is None):
            raise InvalidInput("give exactly one of 'text' and 'document_id'")
        if data.text is not None:
            document, _ = await ingest(store, settings, data.text)
        else:
            document = await load_document(store, data.document_id or "")
        return await respond(
            request,
            lambda d, _: pipeline.answer(document, question, d, data.min_answerability),
        )
