"""Request and response bodies of the HTTP API (v1)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from service.domain import Document, SummaryFormat, SummaryLength

Title = Annotated[str, msgspec.Meta(max_length=500, description="Optional title of the article.")]
Url = Annotated[str, msgspec.Meta(max_length=2048, description="Optional source address.")]
Focus = Annotated[
    str, msgspec.Meta(max_length=1000, description="Optional topic the summary should focus on.")
]


class DocumentIn(msgspec.Struct, forbid_unknown_fields=True):
    """An article to store."""

    text: str
    title: Title | None = None
    url: Url | None = None


class SummaryRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Options of a summary."""

    length: SummaryLength = "medium"
    format: SummaryFormat = "paragraph"
    focus: Focus | None = None


class SummarizeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """One-shot summary of a text that is stored on the way."""

    text: str
    length: SummaryLength = "medium"
    format: SummaryFormat = "paragraph"
    focus: Focus | None = None
    title: Title | None = None
    url: Url | None = None


MinAnswerability = Annotated[
    float,
    msgspec.Meta(
        ge=0.0,
        le=1.0,
        description="Withhold answers whose answerability is below this (default: the "
        "service's ANSWERABILITY_THRESHOLD). 0 answers whenever the model's answer is "
        "found in the article.",
    ),
]


class AnswerRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A question about a stored document."""

    question: str
    min_answerability: MinAnswerability | None = None


class AskRequest(msgspec.Struct, forbid_unknown_fields=True):
    """One-shot question: give the text, or the id of a stored document."""

    question: str
    text: str | None = None
    document_id: str | None = None
    min_answerability: MinAnswerability | None = None


class DocumentOut(msgspec.Struct):
    """A stored document's metadata."""

    id: str
    title: str | None
    url: str | None
    chars: int
    tokens: int
    sentences: int
    chunks: int
    created_at: str

    @classmethod
    def of(cls, document: Document) -> DocumentOut:
        return cls(
            id=document.id,
            title=document.title,
            url=document.url,
            chars=len(document.text),
            tokens=document.segmentation.tokens,
            sentences=len(document.segmentation.sentence_spans),
            chunks=len(document.segmentation.chunks),
            created_at=document.created_at,
        )


class DocumentDetail(DocumentOut):
    """A stored document with its text and sentence spans."""

    text: str = ""
    sentence_spans: list[tuple[int, int]] = []

    @classmethod
    def of(cls, document: Document) -> DocumentDetail:
        base = DocumentOut.of(document)
        return cls(
            **msgspec.structs.asdict(base),
            text=document.text,
            sentence_spans=document.segmentation.sentence_spans,
        )
