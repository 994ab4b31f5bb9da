"""A least-recently-used map bounded by entries and by (estimated) bytes: the building
block of every in-process cache (documents, indexes, results)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """Keeps at most `max_items` values and at most `max_bytes` of them (as `size_of`
    estimates; 0 = no byte bound), evicting the least recently used first.

    Not thread-safe: use it from the event loop only.
    """

    def __init__(
        self,
        max_items: int,
        max_bytes: int = 0,
        size_of: Callable[[V], int] | None = None,
    ) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._size_of = size_of or (lambda _: 0)
        self._items: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._bytes = 0

    @property
    def bytes(self) -> int:
        """Estimated bytes of the values held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> V | None:
        """The value, marked as recently used; None if absent."""
        entry = self._items.get(key)
        if entry is None:
            return None
        self._items.move_to_end(key)
        return entry[0]

    def put(self, key: str, value: V) -> bool:
        """Keep a value (replacing any under the key); False if it cannot be kept at all
        (no room for entries, or larger than the whole byte bound)."""
        size = self._size_of(value)
        self.pop(key)
        if self.max_items <= 0 or (self.max_bytes and size > self.max_bytes):
            return False
        self._items[key] = (value, size)
        self._bytes += size
        while len(self._items) > self.max_items or (
            self.max_bytes and self._bytes > self.max_bytes
        ):
            _, (_, evicted) = self._items.popitem(last=False)
            self._bytes -= evicted
        return True

    def pop(self, key: str) -> V | None:
        """Remove and return a value (None if absent)."""
        entry = self._items.pop(key, None)
        if entry is None:
            return None
        self._bytes -= entry[1]
        return entry[0]

    def pop_where(self, predicate: Callable[[str], bool]) -> int:
        """Remove every value whose key matches; returns how many were removed."""
        keys = [k for k in self._items if predicate(k)]
        for key in keys:
            self.pop(key)
        return len(keys)
