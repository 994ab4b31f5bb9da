"""A circuit breaker in front of the model: stop calling an endpoint that keeps failing."""

from __future__ import annotations

import time
from collections.abc import Callable

from service.llm.base import (
    LLM,
    ChatMessage,
    Completion,
    DeltaCallback,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    OutputSchema,
)


class CircuitBreaker:
    """Closed until `failures` calls in a row fail; then open (calls fail at once) for
    `reset_after_s`; then one trial call decides whether it closes again."""

    def __init__(
        self, failures: int, reset_after_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures_to_open = failures
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self.reset_after_s else "open"

    def check(self) -> None:
        """Raise LLMUnavailable while the circuit is open."""
        if self.state == "open":
            assert self._opened_at is not None
            wait = self.reset_after_s - (self._clock() - self._opened_at)
            raise LLMUnavailable(
                f"the model endpoint keeps failing; circuit open for {wait:.0f} s more"
            )
        if self.state == "half-open":
            # Let this one trial through; until it reports, others wait a full period.
            self._opened_at = self._clock()

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failure(self) -> None:
        self._failures += 1
        if self._failures >= self.failures_to_open:
            self._opened_at = self._clock()


class BreakerLLM:
    """An LLM whose calls go through a circuit breaker."""

    def __init__(self, inner: LLM, breaker: CircuitBreaker) -> None:
        self._inner = inner
        self.breaker = breaker

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
    ) -> Completion:
        """Call the model unless the circuit is open; count the outcome."""
        self.breaker.check()
        try:
            completion = await self._inner.complete(
                messages, max_tokens=max_tokens, schema=schema, on_delta=on_delta
            )
        except (LLMUnavailable, LLMTimeout):
            self.breaker.failure()
            raise
        except LLMError:
            # It answered, just not usefully: the endpoint is up (a half-open trial
            # that gets a bad reply must close the circuit, not leave it open).
            self.breaker.success()
            raise
        self.breaker.success()
        return completion

    async def ping(self) -> bool:
        return await self._inner.ping()

    async def aclose(self) -> None:
        await self._inner.aclose()
