"""Per-document index: sentence terms for support scores, BM25 and dense embeddings for
ranking sentences and chunks against a question."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

import bm25s
import numpy as np

from service.domain import Document
from service.retrieval.dense import DIMENSIONS, DTYPE, embed_passages
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
    # Sentence embeddings (float16 rows), filled at ingestion or when first needed.
    _vectors: np.ndarray | None = field(default=None, repr=False)
    _embedded: np.ndarray | None = field(default=None, repr=False)
    _embedding: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
        vectors, embedded = _stored_vectors(document, len(spans), visible)
        return cls(
            document=document,
            sentence_terms=[content_terms(t) if t else frozenset() for t in texts],
            hidden=hidden,
            _visible=visible,
            _chunk_bm25=_bm25([document.text[c.start : c.end] for c in chunks]),
            _sentence_bm25=_bm25(texts),
            _vectors=vectors,
            _embedded=embedded,
        )

    @cached_property
    def article_terms(self) -> frozenset[str]:
        """Content terms of the whole (visible) article."""
        return frozenset().union(*self.sentence_terms)

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

    def bm25_scores(self, query: str, sentences: list[int]) -> np.ndarray:
        """BM25 scores of the given sentences for the query (zeros when nothing to rank)."""
        scores = _scores(self._sentence_bm25, query)
        if scores is None:
            return np.zeros(len(sentences), dtype=np.float32)
        return np.asarray(scores, dtype=np.float32)[sentences]

    def dense_scores(self, query_vector: np.ndarray, sentences: list[int]) -> np.ndarray:
        """Cosine similarity of the given sentences to the question (blocking: it embeds
        sentences not embedded yet; call it from a worker thread)."""
        self._ensure_vectors(sentences)
        assert self._vectors is not None
        rows = self._vectors[sentences].astype(np.float32)
        return rows @ query_vector.astype(np.float32)

    def _ensure_vectors(self, sentences: list[int]) -> None:
        with self._embedding:
            n = len(self.document.sentence_spans)
            if self._vectors is None or self._embedded is None:
                self._vectors = np.zeros((n, DIMENSIONS), dtype=DTYPE)
                self._embedded = np.zeros(n, dtype=bool)
            missing = [s for s in sentences if not self._embedded[s]]
            texts = [self.shown_text(s) for s in missing]
            wanted = [(s, t) for s, t in zip(missing, texts, strict=True) if t]
            self._vectors[missing] = 0  # wholly hidden sentences match nothing
            if wanted:
                self._vectors[[s for s, _ in wanted]] = embed_passages([t for _, t in wanted])
            self._embedded[missing] = True

    def approx_bytes(self) -> int:
        """Memory held by the index and its document, estimated (for the byte-bounded cache)."""
        terms = sum(200 + 80 * len(t) for t in self.sentence_terms)
        vectors = 0 if self._vectors is None else self._vectors.nbytes
        return (
            vectors
            + self.document.approx_bytes()
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


def _scores(retriever: bm25s.BM25 | None, query: str) -> np.ndarray | None:
    if retriever is None:
        return None
    tokenized = _tokenize([query])
    if not tokenized.vocab:
        return None
    inverse = {v: k for k, v in tokenized.vocab.items()}
    return retriever.get_scores([inverse[i] for i in tokenized.ids[0]])  # type: ignore[no-any-return]


def _rank(retriever: bm25s.BM25 | None, query: str, n: int) -> list[int]:
    scores = _scores(retriever, query)
    if scores is None:
        return list(range(n))
    return [int(i) for i in np.argsort(-scores, kind="stable")]


def _stored_vectors(
    document: Document, n: int, visible: dict[int, str]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The embeddings ingestion stored with the document, if any (rows of partly hidden
    sentences are recomputed from their visible text when needed)."""
    raw = document.segmentation.sentence_vectors
    if raw is None or len(raw) != n * DIMENSIONS * np.dtype(DTYPE).itemsize:
        return None, None
    vectors = np.frombuffer(raw, dtype=DTYPE).reshape(n, DIMENSIONS).copy()
    embedded = np.ones(n, dtype=bool)
    embedded[list(visible)] = False
    return vectors, embedded
