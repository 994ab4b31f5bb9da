"""A circuit breaker in front of the model: stop calling an endpoint that keeps failing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

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
from service.observability import metrics


class CircuitOpen(LLMUnavailable):
    """The breaker refused the call without trying the endpoint."""

    circuit_open = True


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
            raise CircuitOpen(
                f"the model endpoint keeps failing; circuit open for {wait:.0f} s more"
            )
        if self.state == "half-open":
            # Let this one trial through; until it reports, others wait a full period.
            metrics.set_breaker_state("half-open")
            self._opened_at = self._clock()

    def success(self) -> None:
        if self._opened_at is not None:
            metrics.set_breaker_state("closed")
        self._failures = 0
        self._opened_at = None

    def failure(self) -> None:
        self._failures += 1
        if self._failures >= self.failures_to_open:
            self._opened_at = self._clock()
            metrics.set_breaker_state("open")


# A model path whose last few calls all failed in a way no retry fixes (the endpoint
# refuses our requests, or our own code fails) is broken: not ready, whatever a ping says.
BROKEN_AFTER = 3
# A successful call this recent (or a call in flight) shows the endpoint works; then a
# ping that gets no answer in QUICK_PROBE_S means busy, not gone (a one-at-a-time server
# answers pings only between generations). A refused connection means gone, at once.
FRESH_SUCCESS_S = 30.0
QUICK_PROBE_S = 0.5
# Without such evidence a ping must answer, and gets this long.
PROBE_S = 5.0


class BreakerLLM:
    """An LLM whose calls go through a circuit breaker, and that knows from their
    outcomes whether the model path works (for readiness)."""

    def __init__(
        self, inner: LLM, breaker: CircuitBreaker, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._inner = inner
        self.breaker = breaker
        self._clock = clock
        self._last_success: float | None = None
        self._last_failure: float | None = None
        self._broken_calls = 0
        self._in_flight = 0

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
        """Call the model unless the circuit is open; count the outcome."""
        self.breaker.check()
        self._in_flight += 1
        try:
            completion = await self._inner.complete(
                messages,
                max_tokens=max_tokens,
                schema=schema,
                on_delta=on_delta,
                top_logprobs=top_logprobs,
            )
        except (LLMUnavailable, LLMTimeout):
            self.breaker.failure()
            self._last_failure = self._clock()
            raise
        except LLMBadOutput:
            # It answered, just not usefully: the endpoint is up (a half-open trial
            # that gets a bad reply must close the circuit, not leave it open).
            self._worked()
            raise
        except Exception as exc:
            # Refused requests (HTTP 4xx: the endpoint is up) and our own bugs: retrying
            # will not help, and enough of them in a row make the path broken.
            if isinstance(exc, LLMError):
                self.breaker.success()
            self._broken_calls += 1
            raise
        finally:
            self._in_flight -= 1
        self._worked()
        return completion

    def _worked(self) -> None:
        self.breaker.success()
        self._broken_calls = 0
        self._last_success = self._clock()

    @property
    def broken(self) -> bool:
        """True when the last BROKEN_AFTER calls all failed in a way no retry fixes."""
        return self._broken_calls >= BROKEN_AFTER

    async def ping(self) -> bool:
        """True when ready to serve (see readiness)."""
        return (await self.readiness()).ready

    async def readiness(self) -> ModelReadiness:
        """Ready to serve: circuit not open, model path not broken, the model process (when
        we run it) alive, and the endpoint answering. A busy endpoint is ready: with a
        call in flight or one that succeeded lately (no failure since), a ping left
        unanswered for QUICK_PROBE_S means busy; only a refused or failed one means down."""
        circuit = self.breaker.state
        if circuit == "open":
            return ModelReadiness(False, "the circuit breaker is open", circuit)
        if self.broken:
            return ModelReadiness(
                False, f"the last {self._broken_calls} model calls failed beyond retry", circuit
            )
        alive = getattr(self._inner, "alive", None)
        if alive is not None and not alive():
            return ModelReadiness(False, "the model server process is not running", circuit)
        busy = self._busy()
        probe = getattr(self._inner, "probe", None)
        if probe is None:
            # An LLM that can only ping (no way to tell busy from gone): trust the evidence.
            if busy is not None:
                return ModelReadiness(True, busy, circuit)
            found = "ok" if await self._counted_probe(self._inner.ping) else "down"
        else:
            timeout = QUICK_PROBE_S if busy is not None else PROBE_S
            found = await self._counted_probe(lambda: probe(timeout))
        if found == "ok":
            return ModelReadiness(True, "the model endpoint answered a ping", circuit)
        if found == "slow" and busy is not None:
            return ModelReadiness(True, f"busy: {busy}; a ping waits behind it", circuit)
        if found == "slow":
            return ModelReadiness(False, "the model endpoint does not answer in time", circuit)
        return ModelReadiness(False, "the model endpoint does not answer", circuit)

    def _busy(self) -> str | None:
        """Why the endpoint is known to work though a ping may wait (None: no evidence)."""
        if self._in_flight:
            return f"{self._in_flight} model call(s) in flight"
        last, failed = self._last_success, self._last_failure
        now = self._clock()
        if last is not None and now - last < FRESH_SUCCESS_S and (failed is None or failed < last):
            return f"a model call succeeded {now - last:.0f} s ago"
        return None

    @staticmethod
    async def _counted_probe(ping: Callable[[], Awaitable[Any]]) -> Any:
        """A ping, counted and timed as a model call of kind "probe"."""
        started = time.perf_counter()
        try:
            found = await ping()
        except BaseException:
            metrics.MODEL_CALLS.labels("probe", "error").inc()
            raise
        outcome = "ok" if found in (True, "ok") else "timeout" if found == "slow" else "unavailable"
        metrics.MODEL_CALLS.labels("probe", outcome).inc()
        metrics.MODEL_DURATION.labels("probe", outcome).observe(time.perf_counter() - started)
        return found

    async def aclose(self) -> None:
        await self._inner.aclose()


def breaker_of(llm: object) -> CircuitBreaker | None:
    """The circuit breaker inside a stack of LLM wrappers (None if there is none)."""
    for _ in range(8):  # wrappers hold their inner LLM as `_inner`; stacks are shallow
        if isinstance(llm, BreakerLLM):
            return llm.breaker
        llm = getattr(llm, "_inner", None)
        if llm is None:
            return None
    return None
