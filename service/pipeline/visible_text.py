"""Turn raw JSON deltas from the model into the human-readable text being written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.pipeline.structured import partial_reply


def answer_text(reply: Any) -> str:
    """The visible part of an answer reply."""
    if isinstance(reply, dict) and isinstance(reply.get("answer"), str):
        return reply["answer"]
    return ""


def summary_text(reply: Any) -> str:
    """The visible part of a summary reply: its sentences joined by spaces."""
    if not isinstance(reply, dict) or not isinstance(reply.get("sentences"), list):
        return ""
    texts = [
        item["text"]
        for item in reply["sentences"]
        if isinstance(item, dict) and isinstance(item.get("text"), str)
    ]
    return " ".join(texts)


class VisibleTextStream:
    """Feed it raw deltas; it calls `emit` with each new piece of visible text."""

    def __init__(self, extract: Callable[[Any], str], emit: Callable[[str], None]) -> None:
        self._extract = extract
        self._emit = emit
        self._raw: list[str] = []
        self._shown = ""

    def __call__(self, delta: str) -> None:
        self._raw.append(delta)
        visible = self._extract(partial_reply("".join(self._raw)))
        # Only emit strict extensions: the visible text can shrink transiently while
        # an escape sequence is half-written.
        if len(visible) > len(self._shown) and visible.startswith(self._shown):
            self._emit(visible[len(self._shown) :])
            self._shown = visible
