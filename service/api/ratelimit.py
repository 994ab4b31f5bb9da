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
        state = connection.scope.setdefault("state", {})  # type: ignore[typeddict-item]
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
        headers = _headers(await limiter.get_window_stats(item, client), item)
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
