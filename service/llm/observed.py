"""Model calls as an operator sees them: counted by kind and outcome, timed (total and
to the first streamed token), their tokens added up, and a span each when tracing is on."""

from __future__ import annotations

import asyncio
import time

from service.llm.base import (
    LLM,
    ChatMessage,
    Completion,
    DeltaCallback,
    LLMBadOutput,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    ModelReadiness,
    OutputSchema,
)
from service.observability import metrics, tracing


def outcome_of(exc: BaseException) -> str:
    """The outcome label of a failed call (a small fixed set)."""
    if isinstance(exc, LLMTimeout):
        return "timeout"
    if isinstance(exc, LLMUnavailable):
        return "circuit_open" if getattr(exc, "circuit_open", False) else "unavailable"
    if isinstance(exc, LLMBadOutput):
        return "bad_output"
    if isinstance(exc, LLMError):
        return "refused"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "error"


class ObservedLLM:
    """Wraps an LLM; what the calls do is reported, nothing about them changes."""

    def __init__(self, inner: LLM) -> None:
        self._inner = inner

    @property
    def model(self) -> str:
        return self._inner.model

    @property
    def inner(self) -> LLM:
        return self._inner

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        schema: OutputSchema | None = None,
        on_delta: DeltaCallback | None = None,
        top_logprobs: int = 0,
    ) -> Completion:
        """The inner call, observed."""
        call = metrics.current_model_call()
        started = time.perf_counter()
        first_token: list[float] = []
        observed_delta = on_delta
        if on_delta is not None:

            def observed_delta(text: str) -> None:
                if not first_token:
                    first_token.append(time.perf_counter() - started)
                on_delta(text)

        attributes = {
            "llm.kind": call.kind,
            "llm.prompt_version": call.prompt_version,
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": self._inner.model,
            "gen_ai.request.max_tokens": max_tokens,
        }
        with tracing.span("model call", attributes):
            try:
                completion = await self._inner.complete(
                    messages,
                    max_tokens=max_tokens,
                    schema=schema,
                    on_delta=observed_delta,
                    top_logprobs=top_logprobs,
                )
            except BaseException as exc:
                outcome = outcome_of(exc)
                self._count(call.kind, outcome, time.perf_counter() - started, first_token)
                tracing.set_attributes({"llm.outcome": outcome})
                raise
            self._count(call.kind, "ok", time.perf_counter() - started, first_token)
            metrics.MODEL_TOKENS.labels(call.kind, "prompt").inc(completion.prompt_tokens)
            metrics.MODEL_TOKENS.labels(call.kind, "completion").inc(completion.completion_tokens)
            tracing.set_attributes(
                {
                    "llm.outcome": "ok",
                    "gen_ai.response.model": completion.model,
                    "gen_ai.usage.input_tokens": completion.prompt_tokens,
                    "gen_ai.usage.output_tokens": completion.completion_tokens,
                    "gen_ai.response.finish_reasons": completion.finish_reason,
                }
            )
        return completion

    @staticmethod
    def _count(kind: str, outcome: str, seconds: float, first_token: list[float]) -> None:
        metrics.MODEL_CALLS.labels(kind, outcome).inc()
        metrics.MODEL_DURATION.labels(kind, outcome).observe(seconds)
        if first_token:
            metrics.MODEL_TTFT.labels(kind).observe(first_token[0])

    async def ping(self) -> bool:
        return await self._inner.ping()

    async def readiness(self) -> ModelReadiness:
        return await readiness_of(self._inner)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def readiness_of(llm: LLM) -> ModelReadiness:
    """The model path's readiness, in detail when the LLM can tell (BreakerLLM can)."""
    detailed = getattr(llm, "readiness", None)
    if detailed is not None:
        return await detailed()  # type: ignore[no-any-return]
    ok = await llm.ping()
    return ModelReadiness(
        ok, "the endpoint answered a ping" if ok else "the endpoint does not answer"
    )
