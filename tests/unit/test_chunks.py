"""Chunking of sentence runs: bounds, overlap, coverage and progress."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain import Chunk
from service.text import chunk_sentences


def spans_for(tokens: list[int]) -> list[tuple[int, int]]:
    """Fake sentence spans: sentence i is 10 characters, followed by one space."""
    return [(11 * i, 11 * i + 10) for i in range(len(tokens))]


def ranges(chunks: list[Chunk]) -> list[tuple[int, int]]:
    return [(c.first_sentence, c.last_sentence) for c in chunks]


@pytest.mark.parametrize(
    ("tokens", "max_tokens", "overlap", "expected"),
    [
        ([3, 3, 3, 3], 6, 0, [(0, 2), (2, 4)]),
        ([3, 3, 3, 3], 6, 3, [(0, 2), (1, 3), (2, 4)]),
        ([3, 3, 3, 3], 6, 2, [(0, 2), (2, 4)]),  # a 3-token sentence is more than the overlap
        ([1, 1, 1, 1, 1], 3, 2, [(0, 3), (1, 4), (2, 5)]),
        ([2, 2, 2], 4, 3, [(0, 2), (1, 3)]),
        ([1, 1], 5, 4, [(0, 2)]),
        ([10, 1, 1], 5, 1, [(0, 1), (1, 3)]),  # an oversize sentence stands alone
        ([1, 10, 1], 5, 1, [(0, 1), (1, 2), (2, 3)]),  # no overlap can precede it
        ([4, 1, 4], 5, 4, [(0, 2), (1, 3)]),
        ([5], 5, 0, [(0, 1)]),
    ],
)
def test_greedy_chunks(
    tokens: list[int], max_tokens: int, overlap: int, expected: list[tuple[int, int]]
) -> None:
    assert ranges(chunk_sentences(spans_for(tokens), tokens, max_tokens, overlap)) == expected


def test_chunk_offsets_and_tokens() -> None:
    spans = [(2, 9), (10, 20), (22, 30)]
    chunks = chunk_sentences(spans, [2, 3, 4], 5, 3)
    # 3 + 4 > 5, so the second chunk cannot keep sentence 1 as overlap.
    assert chunks == [Chunk(2, 20, 0, 2, 5), Chunk(22, 30, 2, 3, 4)]


def test_empty() -> None:
    assert chunk_sentences([], [], 10, 2) == []


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (-1, 0), (5, 5), (5, 6), (5, -1)])
def test_invalid_budgets(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_sentences([(0, 1)], [1], max_tokens, overlap)


def test_length_mismatch() -> None:
    with pytest.raises(ValueError):
        chunk_sentences([(0, 1), (2, 3)], [1], 5, 0)


def test_measure_overrides_the_sum() -> None:
    # Every boundary inside a chunk costs one more token than the sum says.
    tokens = [2, 2, 2, 2]

    def measure(first: int, last: int) -> int:
        return sum(tokens[first:last]) + (last - first - 1)

    chunks = chunk_sentences(spans_for(tokens), tokens, 4, 0, measure=measure)
    assert ranges(chunks) == [(0, 1), (1, 2), (2, 3), (3, 4)]  # 2 + 2 + 1 > 4
    assert [c.tokens for c in chunks] == [2, 2, 2, 2]
    assert ranges(chunk_sentences(spans_for(tokens), tokens, 4, 0)) == [(0, 2), (2, 4)]


budgets = st.integers(min_value=1, max_value=30).flatmap(
    lambda m: st.tuples(st.just(m), st.integers(min_value=0, max_value=m - 1))
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), max_size=40), budgets)
def test_chunk_properties(tokens: list[int], budget: tuple[int, int]) -> None:
    max_tokens, overlap = budget
    spans = spans_for(tokens)
    chunks = chunk_sentences(spans, tokens, max_tokens, overlap)
    if not tokens:
        assert chunks == []
        return
    assert chunks[0].first_sentence == 0
    assert chunks[-1].last_sentence == len(tokens)
    for chunk in chunks:
        assert chunk.first_sentence < chunk.last_sentence
        assert (chunk.start, chunk.end) == (
            spans[chunk.first_sentence][0],
            spans[chunk.last_sentence - 1][1],
        )
        assert chunk.tokens == sum(tokens[chunk.first_sentence : chunk.last_sentence])
        single = chunk.last_sentence - chunk.first_sentence == 1
        assert chunk.tokens <= max_tokens or single
    for previous, chunk in pairwise(chunks):
        # Contiguous or overlapping, never the whole previous chunk, always progressing.
        assert previous.first_sentence < chunk.first_sentence <= previous.last_sentence
        assert chunk.last_sentence > previous.last_sentence
        assert sum(tokens[chunk.first_sentence : previous.last_sentence]) <= overlap
