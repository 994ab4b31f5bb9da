"""An in-process fake of our own `LLM` protocol (like simonw/llm's MockModel).

Unit tests of grounding and pipeline logic `enqueue()` replies and read `.history`
without a socket; HTTP-level tests use the scripted upstream in upstream.py instead.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from service.llm.base import ChatMessage, Completion, DeltaCallback, OutputSchema


@dataclass
class FakeReply:
    """One scripted outcome of `complete()`."""

    content: str = ""
    error: Exception | None = None
    delay_s: float = 0.0
    gate: asyncio.Event | None = None  # the call waits for it (to hold calls in flight)
    top_logprobs: dict[str, float] | None = None  # returned when the call asks for them


@dataclass(frozen=True)
class FakeCall:
    """What the pipeline asked for."""

    messages: list[ChatMessage]
    max_tokens: int
    schema: OutputSchema | None
    top_logprobs: int = 0


def reply_json(payload: Any) -> FakeReply:
    return FakeReply(content=json.dumps(payload))


class FakeLLM:
    """Replies in the order enqueued; `default` answers when the script is empty."""

    def __init__(self, model: str = "fake-model") -> None:
        self._model = model
        self.script: deque[FakeReply] = deque()
        self.default: FakeReply | None = None
        self.history: list[FakeCall] = []
        self.reachable = True

    @property
    def model(self) -> str:
        return self._model

    def enqueue(self, *replies: FakeReply | str | Exception) -> None:
        for reply in replies:
            if isinstance(reply, str):
                reply = FakeReply(content=reply)
            elif isinstance(reply, Exception):
                reply = FakeReply(error=reply)
            self.script.append(reply)

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        schema: OutputSchema | None = None,
        on_delta: DeltaCallback | None = None,
        top_logprobs: int = 0,
    ) -> Completion:
        self.history.append(FakeCall(messages, max_tokens, schema, top_logprobs))
        reply = self.script.popleft() if self.script else self.default
        if reply is None:
            raise AssertionError("FakeLLM: the script is empty")
        if reply.gate is not None:
            await reply.gate.wait()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.error is not None:
            raise reply.error
        if on_delta is not None and reply.content:
            on_delta(reply.content)
        return Completion(
            content=reply.content,
            model=self._model,
            prompt_tokens=sum(len(m["content"]) // 4 for m in messages),
            completion_tokens=len(reply.content) // 4,
            top_logprobs=reply.top_logprobs if top_logprobs else None,
        )

    async def ping(self) -> bool:
        return self.reachable

    async def aclose(self) -> None:
        return None
