"""Result cache and single-flight: identical requests never reach the model twice."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ResultCache(Generic[T]):
    """A bounded LRU map from request key to finished result."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, T] = OrderedDict()

    def get(self, key: str) -> T | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: T) -> None:
        if self._capacity <= 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def drop_prefix(self, prefix: str) -> None:
        """Forget every result whose key starts with prefix (a deleted document)."""
        for key in [k for k in self._items if k.startswith(prefix)]:
            del self._items[key]


class SingleFlight(Generic[T]):
    """Concurrent calls with the same key share one execution of the work."""

    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Task[T]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Run work once per key at a time; returns (result, shared), shared being
        True for callers that joined another caller's execution.

        The work runs in its own task, so a caller that disconnects does not cancel
        it for the others (and its result still reaches the cache).
        """
        task = self._inflight.get(key)
        shared = task is not None
        if task is None:
            task = asyncio.ensure_future(work())
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task), shared

    def running(self, key: str) -> bool:
        """True while an execution for this key is in flight."""
        return key in self._inflight

    def __len__(self) -> int:
        return len(self._inflight)
