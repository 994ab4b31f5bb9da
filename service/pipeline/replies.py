"""Read the model's JSON replies defensively (small models emit broken JSON)."""

from __future__ import annotations

import json
import re
from typing import Any

import jiter

from service.llm.base import LLMBadOutput

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
