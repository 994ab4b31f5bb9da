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
        """Compute the content terms of every sentence."""
        terms = [
            content_terms(document.sentence_text(i)) for i in range(len(document.sentence_spans))
        ]
        return cls(document=document, sentence_terms=terms)

    def rank_chunks(self, query: str) -> list[int]:
        """Chunk indices by BM25 score for the query, best first (ties keep order)."""
        chunks = self.document.segmentation.chunks
        if self._chunk_bm25 is None and len(chunks) > 1:
            self._chunk_bm25 = _bm25([self.document.text[c.start : c.end] for c in chunks])
        return _rank(self._chunk_bm25, query, len(chunks))

    def rank_sentences(self, query: str) -> list[int]:
        """Sentence indices by BM25 score for the query, best first (ties keep order)."""
        spans = self.document.sentence_spans
        if self._sentence_bm25 is None and len(spans) > 1:
            self._sentence_bm25 = _bm25([self.document.text[s:e] for s, e in spans])
        return _rank(self._sentence_bm25, query, len(spans))


def _bm25(corpus: list[str]) -> bm25s.BM25:
    retriever = bm25s.BM25()
    tokens = bm25s.tokenize(corpus, stopwords="en", stemmer=stem_words, show_progress=False)
    retriever.index(tokens, show_progress=False)
    return retriever


def _rank(retriever: bm25s.BM25 | None, query: str, n: int) -> list[int]:
    if retriever is None:
        return list(range(n))
    tokenized = bm25s.tokenize([query], stopwords="en", stemmer=stem_words, show_progress=False)
    if not tokenized.vocab:
        return list(range(n))
    inverse = {v: k for k, v in tokenized.vocab.items()}
    scores = retriever.get_scores([inverse[i] for i in tokenized.ids[0]])
    return [int(i) for i in np.argsort(-scores, kind="stable")]
