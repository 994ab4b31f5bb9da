"""The memory budget large request bodies share: waiters get room in turn, never forever."""

from __future__ import annotations

import asyncio

import pytest

from service.api.body_budget import Busy, ByteBudget


async def test_a_second_large_body_waits_until_the_first_gives_its_room_back():
    budget = ByteBudget(100)
    order: list[str] = []
    first_in = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with budget.hold(70, wait_s=5):
            order.append("first in")
            first_in.set()
            await release_first.wait()
        order.append("first out")

    async def second() -> None:
        await first_in.wait()
        async with budget.hold(70, wait_s=5):
            order.append("second in")

    tasks = [asyncio.ensure_future(first()), asyncio.ensure_future(second())]
    await asyncio.sleep(0.05)
    assert order == ["first in"] and budget.free == 30
    release_first.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in"] and budget.free == 100


async def test_waiting_too_long_is_a_503_busy_problem():
    budget = ByteBudget(100)
    async with budget.hold(100, wait_s=1):
        with pytest.raises(Busy) as caught:
            async with budget.hold(1, wait_s=0.05):
                pass
    assert caught.value.status_code == 503 and caught.value.headers["Retry-After"]
    assert budget.free == 100


async def test_a_body_larger_than_the_budget_runs_alone_instead_of_never():
    budget = ByteBudget(100)
    async with budget.hold(10_000, wait_s=0.05):
        assert budget.free == 0
    assert budget.free == 100
