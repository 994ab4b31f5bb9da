"""Shared mutable state under concurrent callers: the circuit breaker and single-flight.

Check-then-act on shared state is a bug until a test hammers it (issue #15).
"""

from __future__ import annotations

import asyncio

import pytest

from service.llm.base import LLMBadOutput, LLMUnavailable
from service.llm.breaker import BreakerLLM, CircuitBreaker
from service.pipeline.cache import SingleFlight
from tests.fakes.llm import FakeLLM, FakeReply


def _open_breaker(now: list[float]) -> CircuitBreaker:
    breaker = CircuitBreaker(failures=2, reset_after_s=10, clock=lambda: now[0])
    breaker.failure()
    breaker.failure()
    assert breaker.state == "open"
    return breaker


async def test_half_open_circuit_lets_exactly_one_of_many_concurrent_calls_through():
    now = [0.0]
    gate = asyncio.Event()
    fake = FakeLLM()
    fake.default = FakeReply(content="{}", gate=gate)
    llm = BreakerLLM(fake, _open_breaker(now))
    now[0] = 10.0

    calls = [asyncio.ensure_future(llm.complete([], max_tokens=5)) for _ in range(20)]
    await asyncio.sleep(0.01)
    gate.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)

    assert len(fake.history) == 1
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, LLMUnavailable) for o in outcomes if isinstance(o, Exception))
    assert llm.breaker.state == "closed"


async def test_a_trial_call_with_a_bad_reply_closes_the_circuit():
    # The endpoint answered (badly): it is reachable, so the circuit must not stay open.
    now = [0.0]
    fake = FakeLLM()
    fake.enqueue(LLMBadOutput("no JSON"))
    llm = BreakerLLM(fake, _open_breaker(now))
    now[0] = 10.0
    with pytest.raises(LLMBadOutput):
        await llm.complete([], max_tokens=5)
    assert llm.breaker.state == "closed"


async def test_a_failed_trial_reopens_the_circuit_for_a_full_period():
    now = [0.0]
    fake = FakeLLM()
    fake.enqueue(LLMUnavailable("down"))
    llm = BreakerLLM(fake, _open_breaker(now))
    now[0] = 10.0
    with pytest.raises(LLMUnavailable):
        await llm.complete([], max_tokens=5)
    now[0] = 19.0
    assert llm.breaker.state == "open"
    now[0] = 20.0
    assert llm.breaker.state == "half-open"


async def test_single_flight_runs_concurrent_identical_work_once():
    flight: SingleFlight[int] = SingleFlight()
    runs = 0
    gate = asyncio.Event()

    async def work() -> int:
        nonlocal runs
        runs += 1
        await gate.wait()
        return 42

    callers = [asyncio.ensure_future(flight.run("k", work)) for _ in range(50)]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*callers)
    assert runs == 1
    assert [r for r, _ in results] == [42] * 50
    assert sum(shared for _, shared in results) == 49
    assert len(flight) == 0


async def test_single_flight_work_survives_its_callers_being_cancelled():
    flight: SingleFlight[int] = SingleFlight()
    finished = asyncio.Event()

    async def work() -> int:
        await asyncio.sleep(0.05)
        finished.set()
        return 1

    caller = asyncio.ensure_future(flight.run("k", work))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.wait_for(finished.wait(), 1)


async def test_single_flight_error_reaches_every_joiner_and_the_next_call_runs_afresh():
    flight: SingleFlight[int] = SingleFlight()
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        raise LLMUnavailable("down")

    outcomes = await asyncio.gather(
        *(flight.run("k", failing) for _ in range(5)), return_exceptions=True
    )
    assert attempts == 1 and all(isinstance(o, LLMUnavailable) for o in outcomes)

    async def working() -> int:
        return 7

    assert await flight.run("k", working) == (7, False)
