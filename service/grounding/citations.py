"""Build and verify citations: the one place that owns text[start:end] == quote."""

from __future__ import annotations

from rapidfuzz import fuzz

from service.domain import Citation, Document

# A model quote narrows a citation only if it matches the sentence this closely
# (rapidfuzz partial_ratio, 0-100); below that we keep the whole sentence.
NARROW_MIN_SCORE = 90.0
_EDGE = " \t\r\n\"'“”‘’«»()[]{},;:"


class CitationError(AssertionError):
    """A citation that does not point at its quote: always a bug in the service."""


def make_citation(
    document: Document, start: int, end: int, sentence: int, support: float
) -> Citation:
    """Citation for document.text[start:end]; the quote is cut from the text itself."""
    if not 0 <= start < end <= len(document.text):
        raise CitationError(f"span [{start}, {end}) outside the document")
    citation = Citation(
        start=start,
        end=end,
        quote=document.text[start:end],
        sentence=sentence,
        support=round(min(max(support, 0.0), 1.0), 4),
    )
    verify_citation(document.text, citation)
    return citation


def verify_citation(text: str, citation: Citation) -> None:
    """Raise CitationError unless text[start:end] == quote."""
    if text[citation.start : citation.end] != citation.quote or citation.start >= citation.end:
        raise CitationError(f"citation [{citation.start}, {citation.end}) does not match its quote")


def locate_in_sentence(
    document: Document, sentence: int, fragment: str
) -> tuple[int, int, float] | None:
    """Where a fragment occurs in a sentence: (start, end, score 0-100) in document offsets.

    Exact (case-insensitive) occurrences score 100; otherwise rapidfuzz's best
    partial alignment is used, trimmed to word edges.
    """
    fragment = fragment.strip(_EDGE)
    if not fragment:
        return None
    s_start, s_end = document.sentence_spans[sentence]
    sentence_text = document.text[s_start:s_end]
    # Compare case-insensitively, unless lowercasing changes the length (e.g. "İ"),
    # which would shift every offset after it.
    haystack = sentence_text.lower()
    needle = fragment.lower()
    if len(haystack) != len(sentence_text) or len(needle) != len(fragment):
        haystack, needle = sentence_text, fragment
    position = haystack.find(needle)
    if position >= 0:
        # Whole words only: "Ilse Brand" found in "Ilse Brandt" is the name, not a cut.
        start, end = _snap_to_words(sentence_text, position, position + len(fragment))
        return s_start + start, s_start + end, 100.0
    alignment = fuzz.partial_ratio_alignment(needle, haystack)
    if alignment is None or alignment.score <= 0:
        return None
    start, end = _snap_to_words(sentence_text, alignment.dest_start, alignment.dest_end)
    if start >= end:
        return None
    return s_start + start, s_start + end, float(alignment.score)


def _snap_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a span to whole words, then trim quotes, brackets and spaces at its edges."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and end > 0 and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    return start, end


def cite_sentence(document: Document, sentence: int, support: float = 1.0) -> Citation:
    """Cite a whole sentence."""
    start, end = document.sentence_spans[sentence]
    return make_citation(document, start, end, sentence, support)


def sentence_citation(
    document: Document, sentence: int, support: float, quote: str | None = None
) -> Citation:
    """Cite a sentence, narrowed to the model's quote when it matches closely."""
    if quote:
        located = locate_in_sentence(document, sentence, quote)
        if located is not None and located[2] >= NARROW_MIN_SCORE:
            return make_citation(document, located[0], located[1], sentence, support)
    return cite_sentence(document, sentence, support)
