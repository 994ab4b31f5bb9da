"""The LRU every in-process cache is built on: bounded by entries and by bytes."""

from __future__ import annotations

import pytest

from service.lru import LRU


def test_evicts_least_recently_used_beyond_the_entry_bound():
    cache: LRU[int] = LRU(max_items=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3


def test_evicts_until_the_byte_bound_holds():
    cache: LRU[str] = LRU(max_items=100, max_bytes=10, size_of=len)
    for key in "abcde":
        cache.put(key, "xxxx")  # 4 bytes each
    assert len(cache) == 2 and cache.bytes == 8
    assert list("de") == [k for k in "abcde" if k in cache]


@pytest.mark.parametrize(("max_items", "value"), [(0, "x"), (5, "x" * 11)])
def test_a_value_that_cannot_fit_is_not_kept(max_items, value):
    cache: LRU[str] = LRU(max_items=max_items, max_bytes=10, size_of=len)
    cache.put("keep", "y")
    assert cache.put("big", value) is False
    assert "big" not in cache and cache.bytes == (1 if max_items else 0)


def test_replacing_and_popping_keep_the_byte_count_exact():
    cache: LRU[str] = LRU(max_items=10, max_bytes=100, size_of=len)
    cache.put("a", "xxx")
    cache.put("a", "xxxxx")
    cache.put("b", "xx")
    assert cache.bytes == 7
    assert cache.pop("a") == "xxxxx" and cache.bytes == 2
    assert cache.pop("missing") is None
    assert cache.pop_where(lambda key: key.startswith("b")) == 1 and cache.bytes == 0
