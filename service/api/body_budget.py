"""Large request bodies share a memory budget: ingestion memory stays bounded however
many clients post big articles at once (the rest wait their turn, briefly)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from service.errors import ServiceError

# Bodies this small are not worth queueing (questions, summary options).
SMALL_BODY_BYTES = 64 * 1024
# Reading, decoding, segmenting and storing a body peaks at about this many times its
# size (tracemalloc: 24x for the Python side of segmentation; RSS: 30-45x with the
# tokenizer's and segmenter's native buffers, 2 MB articles on this machine).
INGEST_COST_FACTOR = 32
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Busy(ServiceError):
    status_code = 503
    problem_type = "busy"
    title = "Service busy"


class ByteBudget:
    """A counting semaphore in bytes: acquire(n) waits until n bytes are free."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.free = capacity
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, size: int, wait_s: float) -> AsyncIterator[None]:
        # A body larger than the whole budget waits for all of it, never forever.
        size = min(size, self.capacity)
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.free >= size), wait_s)
            except TimeoutError:
                raise Busy(
                    "too many large request bodies are being processed; retry shortly",
                    headers={"Retry-After": "5"},
                ) from None
            self.free -= size
        try:
            yield
        finally:
            async with self._changed:
                self.free += size
                self._changed.notify_all()


class BodyBudgetMiddleware(ASGIMiddleware):
    """Requests declaring a large body (or not declaring its size) take what processing
    it costs from the budget before the body is read, and give it back when their
    response is done."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, budget: ByteBudget, max_body_bytes: int, wait_s: float = 30.0) -> None:
        self.budget = budget
        self.max_body_bytes = max_body_bytes
        self.wait_s = wait_s

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        size = self._declared_size(scope)
        if size < SMALL_BODY_BYTES:
            await next_app(scope, receive, send)
            return
        async with self.budget.hold(size * INGEST_COST_FACTOR, self.wait_s):
            await next_app(scope, receive, send)

    def _declared_size(self, scope: Scope) -> int:
        if scope.get("method") not in _BODY_METHODS:
            return 0
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return max(0, int(value))
                except ValueError:
                    break
        return self.max_body_bytes  # chunked: could be as large as the limit allows
