"""Token-bounded chunks of whole consecutive sentences, overlapping by trailing sentences."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate

from service.domain import Chunk

# measure(first, last): tokens of the sentences [first, last) taken as one text.
Measure = Callable[[int, int], int]


def chunk_sentences(
    spans: Sequence[tuple[int, int]],
    sentence_tokens: Sequence[int],
    max_tokens: int,
    overlap_tokens: int,
    *,
    measure: Measure | None = None,
) -> list[Chunk]:
    """Greedy chunks of at most max_tokens; each overlaps the previous by <= overlap_tokens."""
    if max_tokens <= 0 or not 0 <= overlap_tokens < max_tokens:
        raise ValueError("need max_tokens > 0 and 0 <= overlap_tokens < max_tokens")
    if len(spans) != len(sentence_tokens):
        raise ValueError("spans and sentence_tokens differ in length")
    count = len(spans)
    if count == 0:
        return []
    prefix = list(accumulate(sentence_tokens, initial=0))
    # Without a measure a chunk costs the sum of its sentences; segment() passes the exact count of
    # the chunk's text, which BPE merges across sentence boundaries can make differ from the sum.
    size = measure or (lambda first, last: prefix[last] - prefix[first])

    chunks: list[Chunk] = []
    first, last = 0, 0
    while last < count:
        last = _extend(prefix, size, first, last + 1, max_tokens)
        chunks.append(Chunk(spans[first][0], spans[last - 1][1], first, last, size(first, last)))
        if last < count:
            first = _overlap_start(size, first, last, max_tokens, overlap_tokens)
    return chunks


def _extend(prefix: list[int], size: Measure, first: int, min_last: int, max_tokens: int) -> int:
    """Largest last >= min_last with size(first, last) <= max_tokens (min_last if none fits)."""
    count = len(prefix) - 1
    # The sum is a cheap first guess; then walk to the exact answer, usually zero or one step.
    last = max(min_last, min(count, bisect_right(prefix, prefix[first] + max_tokens) - 1))
    while last > min_last and size(first, last) > max_tokens:
        last -= 1
    while last < count and size(first, last + 1) <= max_tokens:
        last += 1
    return last


def _overlap_start(
    size: Measure, first: int, last: int, max_tokens: int, overlap_tokens: int
) -> int:
    """First sentence of the next chunk: trailing sentences of [first, last) within the overlap."""
    start = last
    # Never the whole previous chunk (start > first), and the overlap must leave room for the
    # sentence after it (start may then fall back to last: no overlap), so every chunk progresses.
    while (
        start - 1 > first
        and size(start - 1, last) <= overlap_tokens
        and size(start - 1, last + 1) <= max_tokens
    ):
        start -= 1
    return start
