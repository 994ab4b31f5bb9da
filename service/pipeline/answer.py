"""Use case: answer a question from one article, with verified citations."""

from __future__ import annotations

from functools import partial

import anyio

from service.domain import Answer, Usage
from service.grounding.answers import ground_answer
from service.llm.base import LLM, DeltaCallback, OutputSchema
from service.pipeline.context import render_numbered, select_for_question
from service.pipeline.structured import as_int, ask_structured
from service.pipeline.visible_text import VisibleTextStream, answer_text
from service.prompts import load_prompt
from service.retrieval.index import DocumentIndex

INLINE_GROUNDING_SENTENCES = 40

ANSWER_SCHEMA = OutputSchema(
    name="answer",
    schema={
        "type": "object",
        "properties": {
            # Short spans: small models otherwise answer with whole sentences.
            "answer": {"type": "string", "maxLength": 120},
            "sentence": {"type": "integer"},
        },
        "required": ["answer", "sentence"],
        "additionalProperties": False,
    },
)


def answer_prompt_version() -> str:
    """Provenance of the answer prompt (part of every cache key)."""
    return load_prompt("answer").version_tag


async def answer_question(
    llm: LLM,
    index: DocumentIndex,
    question: str,
    *,
    whole_budget: int,
    retrieval_budget: int,
    max_sentences: int = 0,
    on_delta: DeltaCallback | None = None,
) -> Answer:
    """Ask the model, then ground its answer in the sentences it was shown."""
    prompt = load_prompt("answer")
    shown = select_for_question(index, question, whole_budget, retrieval_budget, max_sentences)
    messages = prompt.render(article=render_numbered(index, shown), question=question)
    stream = VisibleTextStream(answer_text, on_delta) if on_delta else None
    structured = await ask_structured(
        llm,
        messages,
        max_tokens=prompt.max_tokens,
        schema=ANSWER_SCHEMA,
        required=("answer",),
        on_delta=stream,
    )
    reply = structured.fields
    raw_answer = reply.get("answer")
    number = as_int(reply.get("sentence"))
    model_sentence = number - 1 if number is not None and number >= 1 else None
    grounding = partial(
        ground_answer,
        index,
        question,
        raw_answer if isinstance(raw_answer, str) else "",
        shown,
        model_sentence,
    )
    # A few sentences ground in microseconds, less than a thread hop costs; only
    # large contexts (ANSWER_CONTEXT_SENTENCES=0 on a long article) leave the loop.
    if len(shown) <= INLINE_GROUNDING_SENTENCES:
        grounded = grounding()
    else:
        grounded = await anyio.to_thread.run_sync(grounding)
    usage = Usage()
    for completion in structured.completions:
        usage.add(completion.prompt_tokens, completion.completion_tokens)
    return Answer(
        document_id=index.document.id,
        question=question,
        answerable=grounded.answerable,
        answer=grounded.answer,
        citations=grounded.citations,
        answer_start=grounded.span[0] if grounded.span else None,
        answer_end=grounded.span[1] if grounded.span else None,
        model=structured.model,
        prompt_version=prompt.version_tag,
        usage=usage,
    )
