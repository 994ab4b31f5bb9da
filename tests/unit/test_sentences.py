"""Sentence segmentation: blingfire's choices on tricky English, and invariants on any text."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.text import sentences, split_sentences
from service.text.sentences import LINE_BREAKS

# Pieces that stress the segmenter and the offset mapping: abbreviations, decimals, quotes,
# CRLF, combining marks, right-to-left script, emoji (with modifiers), controls, NUL, BOM,
# Unicode line and paragraph separators, CJK full stops.
TRICKY = [
    ". ",
    "? ",
    "! ",
    "... ",
    "U.S. ",
    "Mr. ",
    "Dr. ",
    "3.5 ",
    "$14.50",
    "e.g. ",
    "“",
    "”",
    "‘",
    "’",
    "'",
    '"',
    "\r\n",
    "\n",
    "\r",
    "\n\n",
    " ",
    "  ",
    "\t",
    "\xa0",
    "\u0301",
    "e\u0301",
    "שלום",
    "مرحبا. ",
    "😀",
    "👍🏽",
    "👨‍👩‍👧",
    "\x00",
    "\x01",
    "\x1f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\u200b",
    "中文。",
    "好的！",
    "The",
    "He said",
]
texts = st.lists(st.one_of(st.text(max_size=6), st.sampled_from(TRICKY)), max_size=30).map("".join)


def assert_tiles(text: str, spans: list[tuple[int, int]]) -> None:
    """Spans are non-empty, stripped, ordered, line-free, and only whitespace is left out."""
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip()
        assert not any(ch in LINE_BREAKS for ch in piece)
        assert text[previous_end:start].strip() == ""
        previous_end = end
    assert text[previous_end:].strip() == ""


def sentence_texts(text: str) -> list[str]:
    spans = split_sentences(text)
    assert_tiles(text, spans)
    return [text[start:end] for start, end in spans]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Smith went to Washington. He arrived on Monday.",
            ["Mr. Smith went to Washington.", "He arrived on Monday."],
        ),
        (
            "The U.S. economy grew 3.5 percent in 2023. Analysts were surprised.",
            ["The U.S. economy grew 3.5 percent in 2023.", "Analysts were surprised."],
        ),
        ("He moved to the U.S. Then he left.", ["He moved to the U.S.", "Then he left."]),
        (
            "Shares rose 2.75% to $14.50 on Tuesday. Volume was light.",
            ["Shares rose 2.75% to $14.50 on Tuesday.", "Volume was light."],
        ),
        (
            "Version 2.0.1 was released on Jan. 5. It fixed bugs.",
            ["Version 2.0.1 was released on Jan. 5.", "It fixed bugs."],
        ),
        ("See e.g. the report. It is long.", ["See e.g. the report.", "It is long."]),
        ("Wait... what? No! Really.", ["Wait... what?", "No!", "Really."]),
    ],
    ids=["mr", "us-decimal", "us-end", "money", "version-month", "eg", "ellipsis"],
)
def test_abbreviations_and_decimals(text: str, expected: list[str]) -> None:
    assert sentence_texts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("“We will win,” he said. “They know it.”", ["“We will win,” he said.", "“They know it.”"]),
        ("“Is it over?” she asked. “Yes.”", ["“Is it over?” she asked.", "“Yes.”"]),
        ("'Yes,' she said. 'No.' He left.", ["'Yes,' she said.", "'No.'", "He left."]),
        ('He said: "It is done." Then he left.', ['He said: "It is done."', "Then he left."]),
    ],
    ids=["curly-double", "curly-question", "single", "straight-double"],
)
def test_quotes(text: str, expected: list[str]) -> None:
    assert sentence_texts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Headline without a period\nFirst sentence. Second sentence.",
            ["Headline without a period", "First sentence.", "Second sentence."],
        ),
        ("Line one\r\nLine two.\r\n\r\nLine three.", ["Line one", "Line two.", "Line three."]),
        ("Old Mac\rline", ["Old Mac", "line"]),
        ("Caption © Agency\n“Quote,” he said.", ["Caption © Agency", "“Quote,” he said."]),
        ("He lives in the U.S.\nThe end.", ["He lives in the U.S.", "The end."]),
        (
            "One\u2028two\u2029three\x85four\x0bfive\x0csix",
            ["One", "two", "three", "four", "five", "six"],
        ),
        ("  Indented. \n\n\t Next line.  ", ["Indented.", "Next line."]),
    ],
    ids=["headline", "crlf", "cr", "caption", "abbrev-at-line-end", "unicode-breaks", "indent"],
)
def test_line_breaks_always_split(text: str, expected: list[str]) -> None:
    assert sentence_texts(text) == expected


@pytest.mark.parametrize("text", ["", " ", "\n", "\r\n\r\n", " \t\n\xa0\u3000 "])
def test_empty_and_whitespace_only(text: str) -> None:
    assert split_sentences(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("中文。好的。再见！", ["中文。", "好的。", "再见！"]),
        ("Né à Paris. Ünïcode é. Fin 😀. Done", ["Né à Paris.", "Ünïcode é.", "Fin 😀.", "Done"]),
        ("שלום עולם. מה שלומך?", ["שלום עולם.", "מה שלומך?"]),
        ("bad \ud800 surrogate. Next one.", ["bad \ud800 surrogate.", "Next one."]),
        ("nul\x00inside. Still fine.", ["nul\x00inside.", "Still fine."]),
    ],
    ids=["cjk-no-spaces", "multibyte-offsets", "rtl", "lone-surrogate", "nul"],
)
def test_offsets_are_code_points(text: str, expected: list[str]) -> None:
    assert sentence_texts(text) == expected


def test_sample_article_headline_and_quotes(sample_article: str) -> None:  # tests/conftest.py
    found = sentence_texts(sample_article)
    first_line = sample_article.splitlines()[0]
    assert found[0] == first_line  # the headline has no full stop but is its own sentence
    assert "“The United States announced that they are not going to send troops." in found
    assert len(found) > 15


def test_blingfire_failure_falls_back_to_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def failing(clean: str, started=None):
        calls.append(clean)
        return None

    monkeypatch.setattr(sentences, "blingfire_spans", failing)
    text = "First line. Still first.\nSecond line! Still second."
    assert sentence_texts(text) == ["First line. Still first.", "Second line! Still second."]
    assert len(calls) == 3  # the whole text, then each line


def test_one_failing_line_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sentences.blingfire_spans

    def flaky(clean: str, started=None):
        return None if "\n" in clean or "odd" in clean else real(clean)

    monkeypatch.setattr(sentences, "blingfire_spans", flaky)
    text = "One. Two.\nAn odd line. Stays whole.\nThree. Four."
    assert sentence_texts(text) == ["One.", "Two.", "An odd line. Stays whole.", "Three.", "Four."]


@pytest.mark.parametrize("shift", [1, -1, 3], ids=["shift-right", "shift-left", "shift-far"])
def test_misaligned_offsets_are_rejected(monkeypatch: pytest.MonkeyPatch, shift: int) -> None:
    real = sentences.blingfire_spans

    def shifted(clean: str, started=None):
        starts, ends = real(clean)
        return np.clip(starts + shift, 0, len(clean)), np.clip(ends + shift, 0, len(clean))

    monkeypatch.setattr(sentences, "blingfire_spans", shifted)
    text = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota."
    # Shifted gaps land inside words: no cut is accepted, no text is lost, no word is cut.
    assert sentence_texts(text) == [text]


def test_garbage_spans_never_break_invariants(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    text = "Some words here. More words there.\nAnd a line. Ending."

    def garbage(clean: str, started=None):
        cuts = np.sort(rng.integers(0, len(clean), size=12))
        return cuts[::2], cuts[1::2]

    monkeypatch.setattr(sentences, "blingfire_spans", garbage)
    for _ in range(50):
        found = sentence_texts(text)
        assert " ".join(found).split() == text.split()


@settings(max_examples=300, deadline=None)
@given(texts)
def test_spans_tile_any_text(text: str) -> None:
    spans = split_sentences(text)
    assert_tiles(text, spans)
    # Nothing but whitespace is dropped.
    kept = "".join(text[start:end] for start, end in spans)
    assert "".join(text.split()) == "".join(kept.split())


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(["Mr. Smith left.", "It cost 3.5 dollars.", "“Why?” he asked."]),
        min_size=1,
        max_size=8,
    )
)
def test_clean_sentences_are_found_one_by_one(parts: list[str]) -> None:
    assert sentence_texts(" ".join(parts)) == parts
