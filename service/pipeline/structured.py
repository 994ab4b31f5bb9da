"""One structured model call: ask, read the JSON reply, and re-ask once with the
reason when the reply cannot be used (small models often get it right the second time)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from service.llm.base import LLM, ChatMessage, Completion, DeltaCallback, LLMBadOutput, OutputSchema
from service.pipeline.replies import parse_reply
from service.prompts import load_prompt

log = logging.getLogger(__name__)

# The model's unusable reply is echoed back; a runaway one need not be echoed whole.
ECHO_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class StructuredReply:
    """The parsed reply and every completion it took (for usage and provenance)."""

    fields: dict[str, Any]
    completions: tuple[Completion, ...]

    @property
    def model(self) -> str:
        return self.completions[-1].model


def read_reply(content: str, required: tuple[str, ...]) -> dict[str, Any]:
    """The reply's JSON object; LLMBadOutput (with a reason the model can act on)
    when it has none or lacks a required field."""
    fields = parse_reply(content)
    missing = [name for name in required if name not in fields]
    if missing:
        raise LLMBadOutput(f"the JSON object has no {', '.join(repr(m) for m in missing)} field")
    return fields


def reask_messages(messages: list[ChatMessage], content: str, error: str) -> list[ChatMessage]:
    """The conversation so far, the unusable reply, and what was wrong with it."""
    follow_up = load_prompt("reask").render(error=error.rstrip("."))[-1]
    echoed = content[:ECHO_CHARS] if content.strip() else "(an empty reply)"
    return [*messages, {"role": "assistant", "content": echoed}, follow_up]


async def ask_structured(
    llm: LLM,
    messages: list[ChatMessage],
    *,
    max_tokens: int,
    schema: OutputSchema,
    required: tuple[str, ...] = (),
    on_delta: DeltaCallback | None = None,
) -> StructuredReply:
    """Ask for a JSON reply; re-ask once, with the parse error, if it is unusable.

    The re-ask is not streamed: clients already saw the first attempt's text, and
    the final result (JSON body or SSE `result` event) is authoritative.
    """
    first = await llm.complete(messages, max_tokens=max_tokens, schema=schema, on_delta=on_delta)
    try:
        return StructuredReply(read_reply(first.content, required), (first,))
    except LLMBadOutput as exc:
        error = exc.detail
    log.info("unusable model reply (%s); asking once more", error)
    second = await llm.complete(
        reask_messages(messages, first.content, error), max_tokens=max_tokens, schema=schema
    )
    return StructuredReply(read_reply(second.content, required), (first, second))
