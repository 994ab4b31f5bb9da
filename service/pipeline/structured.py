"""Structured model replies: ask for JSON, read the reply defensively (small models emit
broken JSON), and re-ask once with the reason when it cannot be used (small models often
get it right the second time)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import jiter

from service.llm.base import LLM, ChatMessage, Completion, DeltaCallback, LLMBadOutput, OutputSchema
from service.observability.metrics import current_model_call, model_call
from service.prompts import load_prompt

log = logging.getLogger(__name__)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_reply(content: str) -> dict[str, Any]:
    """Parse a JSON object reply; tolerates raw newlines, code fences and truncation."""
    text = _FENCE.sub("", content.strip())
    start = text.find("{")
    if start < 0:
        raise LLMBadOutput("the model reply contains no JSON object")
    text = text[start:]
    try:
        value = json.loads(text, strict=False)
    except json.JSONDecodeError:
        try:
            # A reply cut at max_tokens: keep what was complete, close the rest.
            value = jiter.from_json(text.encode(), partial_mode="trailing-strings")
        except ValueError as exc:
            value = _salvage_strings(text)
            if not value:
                raise LLMBadOutput(f"the model reply is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise LLMBadOutput("the model reply is not a JSON object")
    return value


_STRING_FIELD = re.compile(r'"(\w+)"\s*:\s*"((?:[^"\\]|\\.)*)"?', re.DOTALL)


def _salvage_strings(text: str) -> dict[str, Any]:
    """Top-level string fields of JSON too broken for any parser (small models
    write things like `"sentence": 1723098645922312` after a cut-off string)."""
    fields: dict[str, Any] = {}
    for name, raw in _STRING_FIELD.findall(text):
        if name not in fields:
            try:
                fields[name] = json.loads(f'"{raw}"', strict=False)
            except json.JSONDecodeError:
                fields[name] = raw
    return fields


def partial_reply(content: str) -> Any:
    """Best-effort parse of a reply still being generated (None if nothing yet)."""
    start = content.find("{")
    if start < 0:
        return None
    try:
        return jiter.from_json(content[start:].encode(), partial_mode="trailing-strings")
    except ValueError:
        return None


def as_int(value: Any) -> int | None:
    """An integer from a JSON value, if it is one (models write 3, "3" or "[3]")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = re.search(r"-?\d+", value)
        return int(match.group()) if match else None
    return None


def as_int_list(value: Any) -> list[int]:
    """Integers from a JSON value that should be a list of them."""
    items = value if isinstance(value, list) else [value]
    return [n for n in (as_int(item) for item in items) if n is not None]


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
    with model_call("reask", current_model_call().prompt_version):
        second = await llm.complete(
            reask_messages(messages, first.content, error), max_tokens=max_tokens, schema=schema
        )
    return StructuredReply(read_reply(second.content, required), (first, second))
