"""Per-document lexical index: sentence terms for support scores, BM25 for retrieval."""

from __future__ import annotations

from dataclasses import dataclass, field

import bm25s
import numpy as np

from service.domain import Document
from service.grounding.lexical import content_terms, stem_words


@dataclass
class DocumentIndex:
    """Built once per document (off the event loop) and cached by the pipeline."""

    document: Document
    sentence_terms: list[frozenset[str]]
    _chunk_bm25: bm25s.BM25 | None = field(default=None, repr=False)
    _sentence_bm25: bm25s.BM25 | None = field(default=None, repr=False)

    @classmethod
    def build(cls, document: Document) -> DocumentIndex:
        """Content terms of every sentence and BM25 over sentences and chunks: all the
        CPU work, done here (in a worker thread) rather than on the first question."""
        spans = document.sentence_spans
        chunks = document.segmentation.chunks
        return cls(
            document=document,
            sentence_terms=[content_terms(document.sentence_text(i)) for i in range(len(spans))],
            _chunk_bm25=_bm25([document.text[c.start : c.end] for c in chunks]),
            _sentence_bm25=_bm25([document.text[s:e] for s, e in spans]),
        )

    def rank_chunks(self, query: str) -> list[int]:
        """Chunk indices by BM25 score for the query, best first (ties keep order)."""
        return _rank(self._chunk_bm25, query, len(self.document.segmentation.chunks))

    def rank_sentences(self, query: str) -> list[int]:
        """Sentence indices by BM25 score for the query, best first (ties keep order)."""
        return _rank(self._sentence_bm25, query, len(self.document.sentence_spans))

    def approx_bytes(self) -> int:
        """Memory held by the index and its document, estimated (for the byte-bounded cache)."""
        terms = sum(200 + 80 * len(t) for t in self.sentence_terms)
        return (
            self.document.approx_bytes()
            + terms
            + _bm25_bytes(self._chunk_bm25)
            + _bm25_bytes(self._sentence_bm25)
        )


def _tokenize(texts: list[str]) -> bm25s.tokenization.Tokenized:
    return bm25s.tokenize(texts, stopwords="en", stemmer=stem_words, show_progress=False)


def _bm25(corpus: list[str]) -> bm25s.BM25 | None:
    """BM25 over the texts; None when ranking is pointless (one text) or impossible (no
    indexable word in any: only stopwords, punctuation, digits or emoji)."""
    if len(corpus) < 2:
        return None
    tokens = _tokenize(corpus)
    if not tokens.vocab:
        return None
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    return retriever


def _bm25_bytes(retriever: bm25s.BM25 | None) -> int:
    if retriever is None:
        return 0
    arrays = sum(int(getattr(a, "nbytes", 0)) for a in retriever.scores.values())
    return arrays + 120 * len(retriever.vocab_dict or {})


def _rank(retriever: bm25s.BM25 | None, query: str, n: int) -> list[int]:
    if retriever is None:
        return list(range(n))
    tokenized = _tokenize([query])
    if not tokenized.vocab:
        return list(range(n))
    inverse = {v: k for k, v in tokenized.vocab.items()}
    scores = retriever.get_scores([inverse[i] for i in tokenized.ids[0]])
    return [int(i) for i in np.argsort(-scores, kind="stable")]
