"""Results and single-flight shared through a real Redis (issue #14). Each SharedState
has its own connection pool, as each replica does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from service.errors import SharedStateUnavailable
from service.shared.redis_state import (
    SharedState,
    SharedStateStartupError,
    lock_key,
    result_key,
)
from tests.servers import RedisServer

KEY = "doc1|model|digest"


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[list[SharedState]]:
    states = [SharedState(redis_url, lease_s=1.0) for _ in range(3)]
    for state in states:
        await state.open()
    yield states
    for state in states:
        await state.close()


class Work:
    """Counts its executions; each waits until released."""

    def __init__(self, result: str = "made") -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.result = result

    async def __call__(self) -> str:
        self.calls += 1
        await self.release.wait()
        return self.result


async def run(state: SharedState, work: Work, key: str = KEY) -> tuple[str, bool]:
    return await state.run(
        key, key.split("|")[0], work, str.encode, bytes.decode, keep=lambda _: True
    )


async def test_identical_work_on_three_replicas_runs_once(replicas):
    work = Work()
    calls = [asyncio.ensure_future(run(replicas[i % 3], work)) for i in range(9)]
    while work.calls == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the others are waiting on the lease, not working
    work.release.set()
    results = await asyncio.gather(*calls)
    assert work.calls == 1
    assert sorted(results) == [("made", False)] + [("made", True)] * 8
    for state in replicas:  # the leader's finish is sent, not waited for
        await state.settled()
    assert await replicas[0].redis.get(result_key(KEY)) == b"made"
    assert not await replicas[0].redis.exists(lock_key(KEY))


async def test_the_lease_is_renewed_while_a_long_call_runs(replicas):
    work = Work()
    leader = asyncio.ensure_future(run(replicas[0], work))
    while work.calls == 0:
        await asyncio.sleep(0.01)
    waiter = asyncio.ensure_future(run(replicas[1], work))
    await asyncio.sleep(2.5)  # two and a half leases of 1 s
    work.release.set()
    assert await leader == ("made", False)
    assert await waiter == ("made", True)
    assert work.calls == 1


async def test_a_crashed_leaders_lease_expires_and_a_waiter_takes_over(replicas):
    # A leader that died without a word: its lock, with its token, and no renewal.
    await replicas[0].redis.set(lock_key(KEY), "dead-replica", px=1000)
    work = Work("made by the survivor")
    work.release.set()
    assert await run(replicas[1], work) == ("made by the survivor", False)
    assert work.calls == 1
    await replicas[1].settled()
    assert not await replicas[1].redis.exists(lock_key(KEY))


async def test_only_the_owner_releases_a_lease(replicas):
    state = replicas[0]
    await state.redis.set(lock_key(KEY), "owner", px=10_000)
    assert await state.finish(KEY, "doc1", "someone-else") is False
    assert await state.redis.get(lock_key(KEY)) == b"owner"
    assert await state.finish(KEY, "doc1", "owner") is True
    assert not await state.redis.exists(lock_key(KEY))


async def test_a_failed_call_is_not_kept_and_a_waiter_makes_it_again(replicas):
    class Failing(Work):
        async def __call__(self) -> str:
            await super().__call__()
            raise RuntimeError("model failed")

    failing = Failing()
    leader = asyncio.ensure_future(run(replicas[0], failing))
    while failing.calls == 0:
        await asyncio.sleep(0.01)
    retry = Work("second try")
    retry.release.set()
    waiter = asyncio.ensure_future(run(replicas[1], retry))
    await asyncio.sleep(0.1)
    failing.release.set()
    with pytest.raises(RuntimeError):
        await leader
    assert await waiter == ("second try", False)


async def test_forgetting_a_document_drops_its_results_and_blocks_work_in_flight(replicas):
    done = Work()
    done.release.set()
    await run(replicas[0], done, "doc1|m|a")
    await run(replicas[0], done, "doc2|m|a")
    await replicas[0].settled()
    slow = Work("finished after the delete")
    in_flight = asyncio.ensure_future(run(replicas[1], slow, "doc1|m|b"))
    while slow.calls == 0:
        await asyncio.sleep(0.01)
    await replicas[2].forget_document("doc1")
    slow.release.set()
    assert await in_flight == ("finished after the delete", False)
    await replicas[1].settled()
    redis = replicas[0].redis
    assert not await redis.exists(result_key("doc1|m|a"))
    assert not await redis.exists(result_key("doc1|m|b"))  # not kept: deleted meanwhile
    assert await redis.exists(result_key("doc2|m|a"))


async def test_an_unreachable_redis_is_a_clear_start_up_error():
    state = SharedState("redis://:secret@127.0.0.1:1/0")
    with pytest.raises(SharedStateStartupError) as raised:
        await state.open()
    assert "REDIS_URL" in str(raised.value) and "secret" not in str(raised.value)


@pytest.mark.parametrize("policy", ["local", "refuse"])
async def test_redis_stopped_mid_run_goes_local_or_refuses_and_recovers(policy):
    server = RedisServer().start()
    state = SharedState(server.url, on_failure=policy, lease_s=1.0)
    await state.open()
    work = Work("made here")
    work.release.set()
    try:
        server.stop()
        if policy == "local":
            assert await run(state, work) == ("made here", False)
        else:
            with pytest.raises(SharedStateUnavailable):
                await run(state, work)
        server.start()
        state._down_until = 0.0  # skip the one-second pause after a failure
        assert await run(state, work) == ("made here", False)
        assert await run(state, work) == ("made here", True)  # shared again
    finally:
        await state.close()
        server.cleanup()


async def test_the_lua_scripts_survive_a_redis_restart():
    # A restarted Redis has forgotten every script: redis-py reloads them (NOSCRIPT).
    server = RedisServer().start()
    state = SharedState(server.url, lease_s=1.0)
    await state.open()
    try:
        work = Work()
        work.release.set()
        await run(state, work)
        await state.settled()
        server.stop()
        server.start()
        fresh = aioredis.Redis.from_url(server.url)
        assert not await fresh.exists(result_key(KEY))
        await fresh.aclose()
        state._down_until = 0.0
        assert await run(state, work) == ("made", False)
        assert work.calls == 2
    finally:
        await state.close()
        server.cleanup()
