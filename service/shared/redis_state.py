"""State replicas share through Redis: finished results, and single-flight across
processes (a leased lock per key, waiters woken by pub/sub), with a stated policy for
when Redis is away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from service.errors import SharedStateUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "gs:"
DONE_CHANNEL = PREFIX + "done"  # a leader publishes its key here when it lets go
UNAVAILABLE = (RedisError, OSError, TimeoutError)
_RETRY_AFTER_DOWN_S = 1.0  # after a failure, go local without asking Redis for this long


def one_retry() -> Retry:
    """Retry a command once, at once, on a fresh connection: after a Redis restart every
    pooled connection is dead, and waiting (the default backs off) would only hold the
    request up while Redis is really down."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


# One round trip each way. Claim: the result if some replica made it, else the lease
# (SET NX PX, random token) and the document's generation, else nothing (wait).
_CLAIM = """
local made = redis.call('get', KEYS[1])
if made then return {1, made} end
if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {2, redis.call('get', KEYS[3]) or '0'}
end
return {0, ''}
"""
# Finish: keep the result if the document was not deleted since the claim (its
# generation is unchanged), release the lease only if it is still ours (compare-and-
# delete), and wake the waiters.
_FINISH = """
if ARGV[2] ~= '' and (redis.call('get', KEYS[2]) or '0') == ARGV[3] then
  redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[4])
end
local released = 0
if redis.call('get', KEYS[3]) == ARGV[1] then released = redis.call('del', KEYS[3]) end
redis.call('publish', ARGV[5], ARGV[6])
return released
"""
# Compare-and-extend: only the holder's token renews its lease.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


def result_key(key: str) -> str:
    return f"{PREFIX}result:{key}"


def lock_key(key: str) -> str:
    return f"{PREFIX}lock:{key}"


def generation_key(doc_id: str) -> str:
    return f"{PREFIX}gen:{doc_id}"


class SharedState:
    """A Redis connection pool plus the policy for its absence (REDIS_UNAVAILABLE):
    `local` goes on without it (per process), `refuse` answers 503."""

    def __init__(
        self,
        url: str,
        *,
        on_failure: Literal["local", "refuse"] = "local",
        pool_size: int = 32,
        lease_s: float = 10.0,
        result_ttl_s: int = 86_400,
        timeout_s: float = 2.0,
    ) -> None:
        self.url = url
        self.on_failure = on_failure
        self.lease_ms = int(lease_s * 1000)
        self.result_ttl_s = result_ttl_s
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=one_retry(),
        )
        self.redis: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._claim = self.redis.register_script(_CLAIM)
        self._finish = self.redis.register_script(_FINISH)
        self._renew = self.redis.register_script(_RENEW)
        self._down_until = 0.0
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._listener: asyncio.Task[None] | None = None
        # Finishes sent after their caller got its result (see _lead).
        self._finishing: set[asyncio.Task[bool]] = set()

    async def open(self) -> None:
        """Check Redis answers (a clear error at start-up otherwise) and start listening
        for finished work."""
        try:
            await self.redis.ping()
        except UNAVAILABLE as exc:
            await self.redis.aclose()
            raise SharedStateStartupError(
                f"REDIS_URL: cannot reach Redis at {_redacted(self.url)}: {exc}"
            ) from exc
        self._listener = asyncio.ensure_future(self._listen())

    async def close(self) -> None:
        # Results already answered are still kept and their leases released.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settled(), 5.0)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.redis.aclose()

    # -- the policy ---------------------------------------------------------------------

    def usable(self) -> bool:
        """False for a moment after Redis failed: requests go local without waiting on it."""
        return time.monotonic() >= self._down_until

    def failed(self, exc: BaseException, doing: str) -> None:
        """Record a failure; raises 503 under `refuse`, returns under `local`."""
        if self.usable():
            log.warning("Redis unavailable while %s (%s): %s", doing, exc, self.on_failure)
        self._down_until = time.monotonic() + _RETRY_AFTER_DOWN_S
        if self.on_failure == "refuse":
            raise SharedStateUnavailable(
                "the shared cache (Redis) is unreachable; retry shortly",
                headers={"Retry-After": "1"},
            ) from exc

    def unusable(self) -> None:
        """Called when usable() is False: raise under `refuse`."""
        if self.on_failure == "refuse":
            raise SharedStateUnavailable(
                "the shared cache (Redis) is unreachable; retry shortly",
                headers={"Retry-After": "1"},
            )

    async def check(self) -> tuple[bool, bool, str]:
        """(ready, shared, why) for readiness: one pooled `PING`. Redis away is ready
        under `local` (this replica goes on per process) and not under `refuse`. The
        caller bounds how long this may take (see service/api/health.py)."""
        try:
            await self.redis.ping()
        except UNAVAILABLE as exc:
            return self.unanswered(str(exc) or type(exc).__name__)
        return True, True, "Redis answers: results, single-flight and rate limits are shared"

    def unanswered(self, reason: str) -> tuple[bool, bool, str]:
        """check()'s answer when Redis does not answer (reason: why, naming no secret)."""
        if self.on_failure == "local":
            return (
                True,
                False,
                f"Redis does not answer ({reason}): this replica runs per process (its own "
                "result cache, single-flight and rate counts) until Redis is back "
                "(REDIS_UNAVAILABLE=local)",
            )
        return (
            False,
            False,
            f"Redis does not answer ({reason}): requests that need it get 503 "
            "(REDIS_UNAVAILABLE=refuse)",
        )

    # -- wake-ups -----------------------------------------------------------------------

    async def _listen(self) -> None:
        """Wake local waiters when any replica lets go of a key; resubscribe after
        Redis comes back (waiters also re-check on their own, so nothing hangs)."""
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(DONE_CHANNEL)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._wake(message["data"].decode())
            except UNAVAILABLE:
                await asyncio.sleep(_RETRY_AFTER_DOWN_S)
            finally:
                with contextlib.suppress(*UNAVAILABLE):
                    await pubsub.aclose()

    def _wake(self, key: str) -> None:
        for waiter in self._waiters.pop(key, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self, key: str) -> None:
        """Until the key's holder lets go or its lease runs out."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(waiter)
        try:
            # Registered before looking: a release after this look wakes us.
            if await self.redis.exists(result_key(key)):
                return
            left_ms = await self.redis.pttl(lock_key(key))
            if left_ms < 0:  # no lock (released, or expired): go and try to take it
                return
            # Wake at the lease's end even without a message: a crashed leader sends none.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, left_ms / 1000 + 0.05)
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[key]

    # -- results and single-flight -------------------------------------------------------

    async def run(
        self,
        key: str,
        doc_id: str,
        work: Callable[[], Awaitable[T]],
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
        keep: Callable[[T], bool],
    ) -> tuple[T, bool]:
        """The result for key: Redis's if some replica made it, else made here once
        across replicas. Returns (result, made_elsewhere). Under `local`, runs the
        work here when Redis fails before it started."""
        if not self.usable():
            self.unusable()
            return await work(), False
        try:
            while True:
                token = secrets.token_hex(16)
                outcome, value = await self._claim(
                    keys=[result_key(key), lock_key(key), generation_key(doc_id)],
                    args=[token, self.lease_ms],
                )
                if outcome == 1:
                    return decode(value), True
                if outcome == 2:
                    generation = value.decode()
                    break
                await self._wait(key)
        except UNAVAILABLE as exc:
            self.failed(exc, "sharing work")
            return await work(), False
        return await self._lead(key, doc_id, token, generation, work, encode, keep), False

    async def _lead(
        self,
        key: str,
        doc_id: str,
        token: str,
        generation: str,
        work: Callable[[], Awaitable[T]],
        encode: Callable[[T], bytes],
        keep: Callable[[T], bool],
    ) -> T:
        # The renewal starts only if the work outlives a third of the lease (most model
        # calls do not): no task, no round trip for the others.
        renewing: list[asyncio.Task[None]] = []
        timer = asyncio.get_running_loop().call_later(
            self.lease_ms / 3000,
            lambda: renewing.append(asyncio.ensure_future(self._keep_lease(key, token))),
        )
        payload = b""
        try:
            result = await work()
            if keep(result):
                payload = encode(result)
            return result
        finally:
            timer.cancel()
            for renewal in renewing:
                renewal.cancel()
            # Sent now, not waited for: the caller has its result, and the lease stays
            # held until this lands, so other replicas wait for it (woken by its
            # PUBLISH) instead of repeating the call; a delete meanwhile still stops the
            # result from being kept (the generation is compared in the script).
            finishing = asyncio.ensure_future(self.finish(key, doc_id, token, payload, generation))
            self._finishing.add(finishing)
            finishing.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[bool]) -> None:
        self._finishing.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # finish() handles Redis being away; anything else is a bug to be seen.
            log.error("finishing a single-flight lease failed", exc_info=exc)

    async def settled(self) -> None:
        """Until every finish sent so far has landed (or failed)."""
        while self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)

    async def finish(
        self, key: str, doc_id: str, token: str, payload: bytes = b"", generation: str = "0"
    ) -> bool:
        """Keep the result (if any, and if its document was not deleted meanwhile),
        release the lease if it is still this token's, wake the waiters; True if the
        lease was released."""
        try:
            released = await self._finish(
                keys=[result_key(key), generation_key(doc_id), lock_key(key)],
                args=[token, payload, generation, self.result_ttl_s, DONE_CHANNEL, key],
            )
        except UNAVAILABLE as exc:
            # The lease runs out by itself; waiters notice then.
            log.warning("Redis unavailable while finishing %s: %s", key, exc)
            return False
        return bool(released)

    async def _keep_lease(self, key: str, token: str) -> None:
        """Extend the lease now (a third of it has passed), then every third of it
        while the work runs."""
        while True:
            try:
                if not await self._renew(keys=[lock_key(key)], args=[token, self.lease_ms]):
                    log.warning(
                        "single-flight lease on %s was lost; another replica may repeat the call",
                        key,
                    )
                    return
            except UNAVAILABLE:
                pass
            await asyncio.sleep(self.lease_ms / 3000)

    async def forget_document(self, doc_id: str) -> None:
        """Drop every shared result of a deleted document, and keep work in flight on it
        from storing one (its generation changes)."""
        try:
            await self.redis.incr(generation_key(doc_id))
            keys = [k async for k in self.redis.scan_iter(match=result_key(f"{doc_id}|*"))]
            if keys:
                await self.redis.delete(*keys)
        except UNAVAILABLE as exc:
            self.failed(exc, "dropping a deleted document's results")


class SharedStateStartupError(RuntimeError):
    """REDIS_URL is set but Redis does not answer."""


def _redacted(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
