"""Per-document lexical index: sentence terms for support scores, BM25 over chunks."""

from __future__ import annotations

from dataclasses import dataclass, field

import bm25s
import numpy as np

from service.domain import Document
from service.grounding.lexical import content_terms


@dataclass
class DocumentIndex:
    """Built once per document (off the event loop) and cached by the pipeline."""

    document: Document
    sentence_terms: list[frozenset[str]]
    _chunk_bm25: bm25s.BM25 | None = field(default=None, repr=False)

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
        if len(chunks) <= 1:
            return list(range(len(chunks)))
        if self._chunk_bm25 is None:
            corpus = [self.document.text[c.start : c.end] for c in chunks]
            retriever = bm25s.BM25()
            retriever.index(
                bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False
            )
            self._chunk_bm25 = retriever
        query_tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not query_tokens.vocab:
            return list(range(len(chunks)))
        scores = self._chunk_bm25.get_scores(_query_terms(query_tokens))
        return [int(i) for i in np.argsort(-scores, kind="stable")]


def _query_terms(tokenized: bm25s.tokenization.Tokenized) -> list[str]:
    inverse = {v: k for k, v in tokenized.vocab.items()}
    return [inverse[i] for i in tokenized.ids[0]]
