"""Record/replay of model calls on disk, so eval runs can be replayed offline."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import anyio

from service.llm.base import (
    LLM,
    ChatMessage,
    Completion,
    DeltaCallback,
    LLMReplayMiss,
    ModelReadiness,
    OutputSchema,
)
from service.llm.observed import readiness_of


def call_key(
    model: str,
    messages: list[ChatMessage],
    max_tokens: int,
    schema: OutputSchema | None,
    top_logprobs: int = 0,
) -> str:
    """Content hash of everything that determines a model reply (the prompt text
    embeds the prompt version, so a new prompt version is a new key)."""
    payload = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "schema": None if schema is None else [schema.name, schema.schema],
    }
    if top_logprobs:
        # Only when asked: recordings made before logprobs existed keep their keys.
        payload["top_logprobs"] = top_logprobs
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


class RecordingLLM:
    """Wraps an LLM: answers from recordings when it can, records every new call."""

    def __init__(self, inner: LLM, directory: Path, *, replay_only: bool = False) -> None:
        self._inner = inner
        self._dir = directory
        self._replay_only = replay_only
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def model(self) -> str:
        return self._inner.model

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        schema: OutputSchema | None = None,
        on_delta: DeltaCallback | None = None,
        top_logprobs: int = 0,
    ) -> Completion:
        """Replay a recorded reply, or call the model and record its reply."""
        key = call_key(self.model, messages, max_tokens, schema, top_logprobs)
        path = self._dir / key[:2] / f"{key}.json"
        if await anyio.Path(path).exists():
            data = json.loads(await anyio.Path(path).read_text("utf-8"))
            if on_delta is not None and data["content"]:
                on_delta(data["content"])
            return Completion(**data)
        if self._replay_only:
            raise LLMReplayMiss(f"no recording for this model call (key {key[:12]})")
        completion = await self._inner.complete(
            messages,
            max_tokens=max_tokens,
            schema=schema,
            on_delta=on_delta,
            top_logprobs=top_logprobs,
        )
        await anyio.to_thread.run_sync(_write_atomically, path, completion)
        return completion

    async def ping(self) -> bool:
        return True if self._replay_only else await self._inner.ping()

    async def readiness(self) -> ModelReadiness:
        if self._replay_only:
            return ModelReadiness(True, "answering from recordings (LLM_REPLAY)")
        return await readiness_of(self._inner)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _write_atomically(path: Path, completion: Completion) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "content": completion.content,
        "model": completion.model,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "finish_reason": completion.finish_reason,
    }
    if completion.top_logprobs is not None:
        record["top_logprobs"] = completion.top_logprobs
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle, ensure_ascii=False)
    os.replace(tmp, path)
