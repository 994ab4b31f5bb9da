"""Which article sentences a prompt shows, and how they are rendered."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from service.domain import Document
from service.observability import tracing
from service.retrieval.dense import embed_query
from service.retrieval.index import DocumentIndex

if TYPE_CHECKING:
    from service.settings import Settings


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


@dataclass(frozen=True, slots=True)
class Evidence:
    """The sentences a question's prompt shows, ranked, and how close each is to it."""

    shown: list[int]  # in article order
    ranked: list[int]  # shown, best first
    similarity: dict[int, float]  # cosine to the question (empty without dense retrieval)


@dataclass(frozen=True, slots=True)
class EvidencePolicy:
    """How much of an article a question's prompt shows: the whole article when it fits
    whole_budget, else the best chunks within retrieval_budget; ranked by BM25, plus
    dense similarity when `dense`; with max_sentences > 0 only that many best, unless
    the article has at most whole_article_tokens (then all of it: the same prompt
    prefix for every question on it, which the model server caches)."""

    whole_budget: int
    retrieval_budget: int
    max_sentences: int = 0
    dense: bool = False
    whole_article_tokens: int = 0

    @classmethod
    def of(cls, settings: Settings) -> EvidencePolicy:
        """The policy the service's settings configure."""
        return cls(
            whole_budget=settings.context_budget_tokens,
            retrieval_budget=settings.retrieval_budget_tokens,
            max_sentences=settings.answer_context_sentences,
            dense=settings.dense_retrieval,
            whole_article_tokens=settings.answer_whole_article_tokens,
        )

    def shows_whole(self, document: Document) -> bool:
        """True when every question on the article is shown all of it."""
        return (
            fits_in_one_prompt(document, self.whole_budget)
            and document.segmentation.tokens <= self.whole_article_tokens
        )


def gather_evidence(index: DocumentIndex, question: str, policy: EvidencePolicy) -> Evidence:
    """The sentences the policy shows for a question, ranked. Blocking with
    `policy.dense` (it may embed sentences): call it from a worker thread."""
    attributes = {
        "retrieval.dense": policy.dense,
        "retrieval.sentences": len(index.document.sentence_spans),
    }
    with tracing.span("gather evidence", attributes):
        evidence = _gather(index, question, policy)
        tracing.set_attributes({"retrieval.shown": len(evidence.shown)})
    return evidence


def _gather(index: DocumentIndex, question: str, policy: EvidencePolicy) -> Evidence:
    candidates = [s for s in _candidates(index, question, policy) if index.shown_text(s)]
    if not candidates:
        return Evidence([], [], {})
    score = _zscores(index.bm25_scores(question, candidates))
    similarity: dict[int, float] = {}
    if policy.dense:
        cosines = index.dense_scores(embed_query(question), candidates)
        similarity = {s: float(c) for s, c in zip(candidates, cosines, strict=True)}
        score = score + _zscores(cosines)
    order = np.argsort(-score, kind="stable")
    ranked = [candidates[int(i)] for i in order]
    whole = index.document.segmentation.tokens <= policy.whole_article_tokens
    if 0 < policy.max_sentences < len(ranked) and not whole:
        ranked = ranked[: policy.max_sentences]
    return Evidence(sorted(ranked), ranked, {s: similarity[s] for s in ranked if s in similarity})


def shown_whole(index: DocumentIndex, policy: EvidencePolicy) -> list[int] | None:
    """The sentences every question on a short article is shown (all of it: one prompt
    prefix for all its questions), or None for an article questions see excerpts of."""
    if not policy.shows_whole(index.document):
        return None
    return [s for s in range(len(index.document.sentence_spans)) if index.shown_text(s)]


def _zscores(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def select_for_question(index: DocumentIndex, question: str, policy: EvidencePolicy) -> list[int]:
    """The sentences gather_evidence shows, by BM25 alone (never blocks)."""
    return gather_evidence(index, question, replace(policy, dense=False)).shown


def _candidates(index: DocumentIndex, question: str, policy: EvidencePolicy) -> list[int]:
    document = index.document
    n = len(document.sentence_spans)
    if fits_in_one_prompt(document, policy.whole_budget):
        return list(range(n))
    tokens = document.segmentation.sentence_tokens
    chosen: set[int] = set()
    used = 0
    for chunk_index in index.rank_chunks(question):
        chunk = document.segmentation.chunks[chunk_index]
        new = [s for s in range(chunk.first_sentence, chunk.last_sentence) if s not in chosen]
        cost = sum(tokens[s] for s in new)
        if used + cost > policy.retrieval_budget:
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
