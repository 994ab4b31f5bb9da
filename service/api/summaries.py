"""Summaries: of a stored document, or one-shot of a posted text."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from service.api.documents import load_document
from service.api.schemas import SummarizeRequest, SummaryRequest
from service.api.sse import respond
from service.domain import Summary, SummaryOptions
from service.pipeline.ingest import check_field, ingest
from service.pipeline.pipeline import Pipeline
from service.settings import Settings
from service.store.base import Documents


class SummaryController(Controller):
    tags = ["summaries"]

    @post(
        "/v1/documents/{document_id:str}/summary",
        status_code=HTTP_200_OK,
        operation_id="summarize_document",
        summary="Summarise a stored article; every sentence cites the article",
        description="Send `Accept: text/event-stream` for server-sent events (with `progress` "
        "events while a long article is summarised part by part).",
    )
    async def summarize_stored(
        self,
        request: Request[Any, Any, Any],
        document_id: FromPath[str],
        data: JSONBody[SummaryRequest],
        store: NamedDependency[Documents],
        pipeline: NamedDependency[Pipeline],
    ) -> Summary:
        document = await load_document(store, document_id)
        options = SummaryOptions(data.length, data.format, check_field(data.focus, "focus"))
        return await respond(request, lambda d, p: pipeline.summarize(document, options, d, p))

    @post(
        "/v1/summarize",
        status_code=HTTP_200_OK,
        operation_id="summarize_text",
        summary="One-shot summary of a text (stored on the way; see document_id)",
        description="Send `Accept: text/event-stream` for server-sent events (with `progress` "
        "events while a long article is summarised part by part).",
    )
    async def summarize_text(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SummarizeRequest],
        store: NamedDependency[Documents],
        pipeline: NamedDependency[Pipeline],
        settings: NamedDependency[Settings],
    ) -> Summary:
        options = SummaryOptions(data.length, data.format, check_field(data.focus, "focus"))
        document, _ = await ingest(store, settings, data.text, data.title, data.url)
        return await respond(request, lambda d, p: pipeline.summarize(document, options, d, p))
