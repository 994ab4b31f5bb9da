"""Per-document lexical index: sentence terms for support scores, BM25 for retrieval."""

from __future__ import annotations

from dataclasses import dataclass, field

import bm25s
import numpy as np

from service.domain import Document
from service.text.instructions import instruction_regions, overlaps, visible_part
from service.text.words import content_terms, stem_words


@dataclass
class DocumentIndex:
    """Built once per document (off the event loop) and cached by the pipeline.

    Passages that read as instructions to a model (service/text/instructions.py) are
    `hidden`: prompts show the rest of each sentence, and nothing hidden counts as
    evidence (sentence terms and the sentence BM25 come from the visible text).
    """

    document: Document
    sentence_terms: list[frozenset[str]]
    hidden: list[tuple[int, int]] = field(default_factory=list)
    # Visible text of the sentences that differ from the article's ("" if all hidden).
    _visible: dict[int, str] = field(default_factory=dict, repr=False)
    _chunk_bm25: bm25s.BM25 | None = field(default=None, repr=False)
    _sentence_bm25: bm25s.BM25 | None = field(default=None, repr=False)

    @classmethod
    def build(cls, document: Document) -> DocumentIndex:
        """Content terms of every sentence and BM25 over sentences and chunks: all the
        CPU work, done here (in a worker thread) rather than on the first question."""
        spans = document.sentence_spans
        chunks = document.segmentation.chunks
        hidden = instruction_regions(document.text, spans)
        visible: dict[int, str] = {}
        if hidden:
            for i, (start, end) in enumerate(spans):
                if overlaps(start, end, hidden):
                    visible[i] = visible_part(document.text, start, end, hidden)
        texts = [visible.get(i, document.text[s:e]) for i, (s, e) in enumerate(spans)]
        return cls(
            document=document,
            sentence_terms=[content_terms(t) if t else frozenset() for t in texts],
            hidden=hidden,
            _visible=visible,
            _chunk_bm25=_bm25([document.text[c.start : c.end] for c in chunks]),
            _sentence_bm25=_bm25(texts),
        )

    def shown_text(self, sentence: int) -> str:
        """What a prompt may show of a sentence ("" when all of it is hidden)."""
        return self._visible.get(sentence, self.document.sentence_text(sentence))

    def is_clean(self, sentence: int) -> bool:
        """True when no part of the sentence is hidden."""
        return sentence not in self._visible

    def is_hidden(self, start: int, end: int) -> bool:
        """True when [start, end) of the article touches a hidden passage."""
        return bool(self.hidden) and overlaps(start, end, self.hidden)

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
