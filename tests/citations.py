"""The shared check every test applies to every citation the service returns."""

from __future__ import annotations

from typing import Any


def iter_citations(body: dict[str, Any]) -> list[dict[str, Any]]:
    """All citations in an Answer or Summary body."""
    citations = list(body.get("citations") or [])
    for sentence in body.get("sentences") or []:
        citations.extend(sentence["citations"])
    return citations


def assert_valid_citations(text: str, body: dict[str, Any]) -> int:
    """Assert text[start:end] == quote (and sane fields) for every citation; return the count."""
    citations = iter_citations(body)
    for c in citations:
        assert 0 <= c["start"] < c["end"] <= len(text), c
        assert text[c["start"] : c["end"]] == c["quote"], c
        assert 0.0 <= c["support"] <= 1.0, c
        assert isinstance(c["sentence"], int) and c["sentence"] >= 0, c
    if body.get("answer_start") is not None:
        # An answer that is words of the article is exactly those words, inside a citation.
        start, end = body["answer_start"], body["answer_end"]
        assert text[start:end] == body["answer"], body
        assert any(c["start"] <= start and end <= c["end"] for c in citations), body
    elif body.get("answerable") is False:
        assert body.get("answer_end") is None
    if body.get("answer_start") is not None:
        # An answer that is words of the article is exactly those words, inside a citation.
        start, end = body["answer_start"], body["answer_end"]
        assert text[start:end] == body["answer"], body
        assert any(c["start"] <= start and end <= c["end"] for c in citations), body
    elif body.get("answerable") is False:
        assert body.get("answer_end") is None
    for sentence in body.get("sentences") or []:
        assert sentence["citations"], f"summary sentence without a citation: {sentence}"
        assert body["text"][sentence["start"] : sentence["end"]] == sentence["text"], sentence
    return len(citations)
