"""Use case: summarise an article so that every sentence cites the article."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio

from service.domain import Summary, SummaryOptions, Usage
from service.grounding.drafts import Draft, ground_summary
from service.llm.base import LLM, DeltaCallback, LLMError, LLMTimeout, LLMUnavailable, OutputSchema
from service.observability import tracing
from service.observability.metrics import model_call
from service.pipeline.context import fits_in_one_prompt, group_sentences, render_numbered
from service.pipeline.extractive import SENTENCES_FOR_LENGTH, assemble, extract, lead
from service.pipeline.structured import as_int_list, ask_structured
from service.pipeline.visible_text import VisibleTextStream, summary_text
from service.prompts import load_prompt
from service.retrieval.index import DocumentIndex

MAP_SENTENCES = 3

# Progress of a map-reduce summary: (map calls finished, map calls in all).
ProgressCallback = Callable[[int, int], None]


def summary_schema(max_items: int) -> OutputSchema:
    """JSON schema of a summary reply with at most max_items sentences."""
    return OutputSchema(
        name="summary",
        schema={
            "type": "object",
            "properties": {
                "sentences": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": max_items,
                    "items": {
                        "type": "object",
                        "properties": {
                            "text": {"type": "string", "maxLength": 300},
                            "sources": {
                                "type": "array",
                                "items": {"type": "integer"},
                                "maxItems": 3,
                            },
                        },
                        "required": ["text", "sources"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["sentences"],
            "additionalProperties": False,
        },
    )


def summary_prompt_version(long_document: bool) -> str:
    """Provenance of the prompts a summary uses (part of every cache key)."""
    if long_document:
        return "+".join(load_prompt(n).version_tag for n in ("summary_map", "summary_reduce"))
    return load_prompt("summary").version_tag


def _focus_clause(focus: str | None) -> str:
    return f" Focus on: {focus}" if focus else ""


def _drafts(reply: dict[str, Any], source_map: list[list[int]] | None = None) -> list[Draft]:
    """Drafts from a reply; sources are 1-based numbers in the prompt, mapped back
    to article sentence indices (through source_map for reduce-step candidates)."""
    items = reply.get("sentences")
    drafts: list[Draft] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            continue
        numbers = [n - 1 for n in as_int_list(item.get("sources", [])) if n >= 1]
        if source_map is not None:
            numbers = [s for n in numbers if n < len(source_map) for s in source_map[n]]
        drafts.append(Draft(item["text"], numbers))
    return drafts


class _Calls:
    """Runs model calls for one summary and adds up their usage."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self.usage = Usage()
        self.model = llm.model

    async def __call__(
        self,
        kind: str,
        prompt_version: str,
        messages: Any,
        max_tokens: int,
        schema: OutputSchema,
        on_delta: DeltaCallback | None = None,
    ) -> dict[str, Any]:
        with model_call(kind, prompt_version):
            reply = await ask_structured(
                self.llm,
                messages,
                max_tokens=max_tokens,
                schema=schema,
                required=("sentences",),
                on_delta=on_delta,
            )
        for completion in reply.completions:
            self.usage.add(completion.prompt_tokens, completion.completion_tokens)
        self.model = reply.model
        return reply.fields


async def summarize_document(
    llm: LLM,
    index: DocumentIndex,
    options: SummaryOptions,
    *,
    whole_budget: int,
    extractive: bool = False,
    on_delta: DeltaCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> Summary:
    """Draft with the model (map-reduce for long articles, reporting each finished map
    call to on_progress), then ground every sentence."""
    document = index.document
    count = SENTENCES_FOR_LENGTH[options.length]
    style = "bullet-point" if options.format == "bullets" else "concise"
    stream = VisibleTextStream(summary_text, on_delta) if on_delta else None
    calls = _Calls(llm)
    long_document = not fits_in_one_prompt(document, whole_budget)
    if not long_document:
        prompt = load_prompt("summary")
        messages = prompt.render(
            article=render_numbered(index, list(range(len(document.sentence_spans)))),
            count=count,
            style=style,
            focus=_focus_clause(options.focus),
        )
        reply = await calls(
            "summary",
            prompt.version_tag,
            messages,
            prompt.max_tokens,
            summary_schema(count),
            stream,
        )
        drafts = _drafts(reply)
    else:
        drafts = await _map_reduce(
            calls, index, count, style, options.focus, whole_budget, stream, on_progress
        )
    with tracing.span("grounding", {"grounding.drafts": len(drafts)}):
        grounded = await anyio.to_thread.run_sync(ground_summary, index, drafts, count)
        tracing.set_attributes({"grounding.sentences": len(grounded)})
    fallback = not grounded
    if fallback:
        # Nothing the model wrote rests on the article (or every map call failed): the
        # opening sentences, flagged like any other result made without the model.
        grounded = lead(index, count)
    elif extractive:
        grounded = extract(index, grounded, count)
    summary = assemble(
        document.id,
        grounded,
        options.format,
        calls.model,
        calls.usage,
        summary_prompt_version(long_document),
    )
    summary.degraded = fallback
    return summary


async def _map_reduce(
    calls: _Calls,
    index: DocumentIndex,
    count: int,
    style: str,
    focus: str | None,
    whole_budget: int,
    stream: DeltaCallback | None,
    on_progress: ProgressCallback | None = None,
) -> list[Draft]:
    document = index.document
    map_prompt = load_prompt("summary_map")
    groups = group_sentences(document, whole_budget)
    finished = 0

    async def map_one(group: list[int]) -> list[Draft]:
        nonlocal finished
        messages = map_prompt.render(
            article=render_numbered(index, group),
            count=MAP_SENTENCES,
            focus=_focus_clause(focus),
        )
        try:
            reply = await calls(
                "summary_map",
                map_prompt.version_tag,
                messages,
                map_prompt.max_tokens,
                summary_schema(MAP_SENTENCES),
            )
        finally:
            # Finished, well or not: the reduce step waits for every map call either way.
            finished += 1
            if on_progress is not None:
                on_progress(finished, len(groups))
        return _drafts(reply)

    # The LLM client bounds how many of these run at once. One unreadable part should
    # not sink the whole summary: the reduce step works from the others.
    mapped = await asyncio.gather(*(map_one(g) for g in groups), return_exceptions=True)
    candidates = [d for drafts in mapped if isinstance(drafts, list) for d in drafts]
    failures = [m for m in mapped if isinstance(m, BaseException)]
    for failure in failures:
        if not isinstance(failure, LLMError):
            raise failure  # a bug, not the model's doing
    if not candidates:
        unavailable = [f for f in failures if isinstance(f, LLMUnavailable | LLMTimeout)]
        if unavailable:
            raise unavailable[0]  # the model is down: degraded mode or 502/504 decides
        return []  # only unusable output: the caller falls back to the opening sentences
    reduce_prompt = load_prompt("summary_reduce")
    listing = "\n".join(f"[{i + 1}] {d.text}" for i, d in enumerate(candidates))
    messages = reduce_prompt.render(
        candidates=listing, count=count, style=style, focus=_focus_clause(focus)
    )
    try:
        reply = await calls(
            "summary_reduce",
            reduce_prompt.version_tag,
            messages,
            reduce_prompt.max_tokens,
            summary_schema(count),
            stream,
        )
    except LLMError:
        return candidates
    return _drafts(reply, [d.sources for d in candidates]) + candidates
