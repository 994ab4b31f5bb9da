"""Per-client request limits (RATE_LIMIT), counted per API key, or per client address
when the API is open. Moving windows from the `limits` library, kept in memory, or in
Redis (REDIS_URL) so that replicas count together."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from typing import Any, NoReturn

from limits import RateLimitItem, WindowStats, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Message, Scope
from redis.exceptions import NoScriptError

from service.errors import RateLimited
from service.shared.redis_state import UNAVAILABLE, SharedState, one_retry

_STATE_KEY = "rate_limit_headers"
log = logging.getLogger(__name__)


class RateLimiter:
    """A guard that counts /v1/ requests per client and refuses those over the limit
    with 429 + Retry-After; every counted response carries RateLimit-* headers."""

    def __init__(self, spec: str, *, per_key: bool, shared: SharedState | None = None) -> None:
        self._items: list[RateLimitItem] = parse_many(spec)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared = shared
        self._redis: MovingWindowRateLimiter | None = None
        self._window: _PipelinedWindow | None = None
        if shared is not None:
            # The limits library's own Redis storage (redis-py under it); its Lua
            # scripts count and check in one step, so replicas admit exactly the limit.
            storage = RedisStorage(
                "async+" + shared.url,
                implementation="redispy",
                wrap_exceptions=True,
                socket_timeout=2.0,
                socket_connect_timeout=2.0,
                retry=one_retry(),
            )
            self._redis = MovingWindowRateLimiter(storage)
            self._window = _PipelinedWindow.of(storage)
        self._per_key = per_key

    async def guard(
        self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        """Count against Redis when it is there; per process when it is not and
        REDIS_UNAVAILABLE=local (under `refuse`, 503)."""
        if self._redis is None or self._shared is None:
            return await self._count(self._local, connection)
        if self._shared.usable():
            try:
                return await self._count(self._redis, connection)
            except (StorageError, *UNAVAILABLE) as exc:
                self._shared.failed(exc, "counting a request")
        else:
            self._shared.unusable()
        return await self._count(self._local, connection)

    def client(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        """Whom a request counts against. Keys are hashed so no raw key sits in memory
        longer than the request; without keys a client could invent tokens, so the
        address counts instead."""
        if self._per_key:
            token = connection.headers.get("authorization", "").partition(" ")[2].strip()
            return "key:" + hashlib.sha256(token.encode()).hexdigest()[:24]
        return "addr:" + (connection.client.host if connection.client else "unknown")

    async def _count(
        self, limiter: MovingWindowRateLimiter, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if not connection.scope["path"].startswith("/v1/"):
            return  # health probes, the page and the schema are not counted
        client = self.client(connection)
        state = connection.scope.setdefault("state", {})  # type: ignore[typeddict-item]
        if limiter is self._redis and self._window is not None and len(self._items) == 1:
            # One limit in Redis (the usual case): count and read the window for the
            # headers in one round trip.
            item = self._items[0]
            admitted, stats = await self._window.hit(limiter, item, client)
            if not admitted:
                self._refusal(stats, item)
            state[_STATE_KEY] = _headers(stats, item)
            return
        # With several limits, test every one before counting against any, so a refused
        # request costs nothing; hit() re-checks, in case a concurrent request took the
        # last slot in between. One limit: hit() alone checks and counts (a round trip
        # less with Redis).
        if len(self._items) > 1:
            for item in self._items:
                if not await limiter.test(item, client):
                    await self._refuse(limiter, item, client)
        for item in self._items:
            if not await limiter.hit(item, client):
                await self._refuse(limiter, item, client)
        if limiter is self._local:
            state[_STATE_KEY] = await self._report(limiter, client)
        else:
            # The window's numbers for the headers are asked for now (after the hit, so
            # they count it) and awaited when the response starts: with Redis this
            # round trip overlaps the request's own work instead of preceding it.
            report = asyncio.ensure_future(self._report(limiter, client))
            report.add_done_callback(_retrieved)
            state[_STATE_KEY] = report

    async def _report(self, limiter: MovingWindowRateLimiter, client: str) -> dict[str, str]:
        """The RateLimit-* headers of the limit closest to running out."""
        stats = await asyncio.gather(*(limiter.get_window_stats(i, client) for i in self._items))
        return _headers(
            *min(zip(stats, self._items, strict=True), key=lambda pair: pair[0].remaining)
        )

    async def _refuse(
        self, limiter: MovingWindowRateLimiter, item: RateLimitItem, client: str
    ) -> NoReturn:
        self._refusal(await limiter.get_window_stats(item, client), item)

    def _refusal(self, stats: WindowStats, item: RateLimitItem) -> NoReturn:
        headers = _headers(stats, item)
        headers["Retry-After"] = headers["RateLimit-Reset"]
        raise RateLimited(
            f"more than {item} for this {'API key' if self._per_key else 'client'}; "
            f"retry in {headers['Retry-After']} s",
            headers=headers,
        )

    @staticmethod
    async def add_headers(message: Message, scope: Scope) -> None:
        """before_send hook: put the counted request's RateLimit-* headers on its response."""
        if message["type"] != "http.response.start":
            return
        values = scope.get("state", {}).get(_STATE_KEY)  # type: ignore[attr-defined]
        if isinstance(values, asyncio.Future):
            try:
                values = await values
            except (StorageError, *UNAVAILABLE) as exc:
                # Counted already; only the numbers for the headers were lost.
                log.warning("Redis unavailable while reading the rate-limit window: %s", exc)
                values = None
        if values:
            headers = MutableScopeHeaders(message)
            for name, value in values.items():
                headers[name] = value


class _PipelinedWindow:
    """The `limits` library's own moving-window Lua scripts and keys (its redis-py
    bridge), sent together: the hit (count and check, atomic) and then the window read
    for the headers, in one round trip on one connection. What MovingWindowRateLimiter
    .hit() and .get_window_stats() do one after the other, minus a round trip."""

    def __init__(self, bridge: Any) -> None:
        self._bridge = bridge

    @classmethod
    def of(cls, storage: RedisStorage) -> _PipelinedWindow | None:
        """None when this version of `limits` does not have what this relies on (then
        the library's own calls are used)."""
        bridge = getattr(storage, "bridge", None)
        needs = ("get_connection", "prefixed_key", "lua_acquire_moving_window", "lua_moving_window")
        return cls(bridge) if all(hasattr(bridge, name) for name in needs) else None

    async def hit(
        self, limiter: MovingWindowRateLimiter, item: RateLimitItem, client: str
    ) -> tuple[bool, WindowStats]:
        bridge = self._bridge
        key = bridge.prefixed_key(item.key_for(client))
        expiry = item.get_expiry()
        now = time.time()
        async with bridge.get_connection().pipeline(transaction=False) as pipe:
            # Arguments as limits' RedispyBridge.acquire_entry / get_moving_window pass them.
            pipe.evalsha(bridge.lua_acquire_moving_window.sha, 1, key, now, item.amount, expiry, 1)
            pipe.evalsha(bridge.lua_moving_window.sha, 1, key, now - expiry, item.amount)
            acquired, window = await pipe.execute(raise_on_error=False)
        # A restarted Redis has forgotten the scripts: the library's calls load them.
        # (The window read is after the hit, so a hit that ran is never repeated.)
        if isinstance(acquired, NoScriptError):
            acquired = await limiter.hit(item, client)
        elif isinstance(acquired, Exception):
            raise acquired
        if isinstance(window, NoScriptError):
            return bool(acquired), await limiter.get_window_stats(item, client)
        if isinstance(window, Exception):
            raise window
        start, count = (float(window[0]), int(window[1])) if window else (now, 0)
        return bool(acquired), WindowStats(start + expiry, item.amount - count)


def _retrieved(report: asyncio.Future[dict[str, str]]) -> None:
    """A report nobody awaited (the client left first) fails silently: add_headers
    logs the failures of those it awaits."""
    if not report.cancelled():
        report.exception()


def _headers(stats: WindowStats, item: RateLimitItem) -> dict[str, str]:
    reset = max(1, math.ceil(stats.reset_time - time.time()))
    return {
        "RateLimit-Limit": str(item.amount),
        "RateLimit-Remaining": str(max(0, stats.remaining)),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": f"{item.amount};w={item.get_expiry()}",
    }
