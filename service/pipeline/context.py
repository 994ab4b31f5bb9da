"""Which article sentences a prompt shows, and how they are rendered."""

from __future__ import annotations

from service.domain import Document
from service.retrieval.index import DocumentIndex


def render_numbered(index: DocumentIndex, sentences: list[int]) -> str:
    """One sentence a line as "[n] text", n = sentence index + 1; a gap in the numbering
    (retrieved excerpts, hidden passages) is marked with "...", so the model sees the cut.
    Passages that read as instructions are left out (DocumentIndex.hidden)."""
    lines: list[str] = []
    previous = -1
    for sentence in sentences:
        text = index.shown_text(sentence)
        if not text:
            continue
        if previous >= 0 and sentence != previous + 1:
            lines.append("...")
        lines.append(f"[{sentence + 1}] {text}")
        previous = sentence
    return "\n".join(lines)


def fits_in_one_prompt(document: Document, budget_tokens: int) -> bool:
    """True when the whole article fits the context budget."""
    return document.segmentation.tokens <= budget_tokens


def select_for_question(
    index: DocumentIndex,
    question: str,
    whole_budget: int,
    retrieval_budget: int,
    max_sentences: int = 0,
) -> list[int]:
    """All sentences of a short article; for a long one, the best BM25 chunks for the
    question, added while their new sentences fit the retrieval budget. With
    max_sentences > 0, only that many best BM25 sentences are shown (small models
    answer better without distractors)."""
    candidates = [
        s
        for s in _candidates(index, question, whole_budget, retrieval_budget)
        if index.shown_text(s)
    ]
    if 0 < max_sentences < len(candidates):
        allowed = set(candidates)
        best = [s for s in index.rank_sentences(question) if s in allowed][:max_sentences]
        return sorted(best)
    return candidates


def _candidates(
    index: DocumentIndex, question: str, whole_budget: int, retrieval_budget: int
) -> list[int]:
    document = index.document
    n = len(document.sentence_spans)
    if fits_in_one_prompt(document, whole_budget):
        return list(range(n))
    tokens = document.segmentation.sentence_tokens
    chosen: set[int] = set()
    used = 0
    for chunk_index in index.rank_chunks(question):
        chunk = document.segmentation.chunks[chunk_index]
        new = [s for s in range(chunk.first_sentence, chunk.last_sentence) if s not in chosen]
        cost = sum(tokens[s] for s in new)
        if used + cost > retrieval_budget:
            continue
        chosen.update(new)
        used += cost
    return sorted(chosen)


def group_sentences(document: Document, budget_tokens: int) -> list[list[int]]:
    """Consecutive, non-overlapping groups of sentences of at most budget tokens
    (the map step of map-reduce summaries)."""
    groups: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index, tokens in enumerate(document.segmentation.sentence_tokens):
        if current and used + tokens > budget_tokens:
            groups.append(current)
            current, used = [], 0
        current.append(index)
        used += tokens
    if current:
        groups.append(current)
    return groups
