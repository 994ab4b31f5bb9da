"""Values that flow through the pipeline and out of the API (msgspec Structs)."""

from __future__ import annotations

import hashlib
import sys
from typing import Literal

import msgspec

SummaryLength = Literal["short", "medium", "long"]
SummaryFormat = Literal["paragraph", "bullets"]


class SummaryOptions(msgspec.Struct, frozen=True):
    """What the client asked for."""

    length: SummaryLength = "medium"
    format: SummaryFormat = "paragraph"
    focus: str | None = None

    def cache_key(self) -> str:
        return f"{self.length}:{self.format}:{self.focus or ''}"


class Chunk(msgspec.Struct, frozen=True, array_like=True):
    """A token-bounded run of whole sentences: text[start:end], sentences [first, last)."""

    start: int
    end: int
    first_sentence: int
    last_sentence: int
    tokens: int


class Segmentation(msgspec.Struct, frozen=True):
    """What ingestion computes once per document."""

    sentence_spans: list[tuple[int, int]]
    sentence_tokens: list[int]
    chunks: list[Chunk]
    tokens: int
    # Dense embeddings of the sentences (float16, 384 per sentence, row-major), when
    # ingestion computed them; long articles embed their sentences when first needed.
    sentence_vectors: bytes | None = None


class Document(msgspec.Struct, frozen=True):
    """A stored article and its segmentation."""

    id: str
    text: str
    title: str | None
    url: str | None
    created_at: str
    segmentation: Segmentation

    @property
    def sentence_spans(self) -> list[tuple[int, int]]:
        return self.segmentation.sentence_spans

    def sentence_text(self, index: int) -> str:
        start, end = self.segmentation.sentence_spans[index]
        return self.text[start:end]

    def approx_bytes(self) -> int:
        """Memory this document holds, estimated (for caches bounded in bytes)."""
        # Per sentence: a (start, end) tuple of ints and a token count; per chunk one
        # Chunk. Within 10% of tracemalloc's count for 2 KB to 500 KB articles.
        segmentation = self.segmentation
        vectors = len(segmentation.sentence_vectors or b"")
        return (
            vectors
            + sys.getsizeof(self.text)
            + 160 * len(segmentation.sentence_spans)
            + 150 * len(segmentation.chunks)
            + len(self.title or "")
            + len(self.url or "")
            + 400
        )


class Citation(msgspec.Struct, frozen=True):
    """A verified pointer into the article: document.text[start:end] == quote."""

    start: int
    end: int
    quote: str
    sentence: int
    support: float


class Usage(msgspec.Struct):
    """Tokens the model calls of one request consumed."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    calls: int = 0

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.total_tokens += prompt_tokens + completion_tokens
        self.calls += 1


class SummarySentence(msgspec.Struct, frozen=True):
    """One sentence of a summary; start/end locate it inside Summary.text."""

    text: str
    start: int
    end: int
    citations: list[Citation]


class Summary(msgspec.Struct):
    """A summary in which every sentence cites the article."""

    document_id: str
    text: str
    sentences: list[SummarySentence]
    model: str
    prompt_version: str
    usage: Usage
    cached: bool = False
    degraded: bool = False


class Answer(msgspec.Struct):
    """An answer with its citations, or answerable=False when the article does not say.

    When the answer is words of the article, answer_start/answer_end locate them
    (code points): document.text[answer_start:answer_end] == answer.
    """

    document_id: str
    question: str
    answerable: bool
    answer: str | None
    citations: list[Citation]
    model: str
    prompt_version: str
    usage: Usage
    cached: bool = False
    degraded: bool = False
    answer_start: int | None = None
    answer_end: int | None = None
    # How likely the answer is right, in [0, 1], from its evidence (0 when the model's
    # reply found no support at all; None for degraded answers). Below the threshold
    # (ANSWERABILITY_THRESHOLD, or the request's min_answerability) the answer is
    # withheld: answerable is false.
    answerability: float | None = None


def document_id(text: str) -> str:
    """Content address of a text: the same text always gets the same id."""
    return "doc_" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
