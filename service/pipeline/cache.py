"""Single-flight: concurrent identical requests share one execution."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


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
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task), shared

    def _forget(self, key: str, task: asyncio.Task[T]) -> None:
        # Only this execution's own entry: after a detach a newer one may run under the key.
        if self._inflight.get(key) is task:
            del self._inflight[key]

    def detach_where(self, predicate: Callable[[str], bool]) -> None:
        """Let executions whose key matches finish for their current callers, but make
        later callers start a new one."""
        for key in [k for k in self._inflight if predicate(k)]:
            del self._inflight[key]

    def running(self, key: str) -> bool:
        """True while an execution for this key is in flight."""
        return key in self._inflight

    def __len__(self) -> int:
        return len(self._inflight)
