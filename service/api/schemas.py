"""Request and response bodies of the HTTP API (v1)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import msgspec

from service.domain import Document, SummaryFormat, SummaryLength
from service.pipeline.ingest import check_field, check_question, check_text

# The rules of the text fields, as patterns: msgspec applies them when it decodes a body,
# and the OpenAPI document states them, so a client knows before it calls. They say what
# the service's own checks (service/pipeline/ingest.py) say, which a test holds them to.
# Character classes are spelled out because `\s` means different sets in Python and in
# ECMA-262, the dialect of OpenAPI patterns (U+001C-U+001F, U+0085, U+FEFF).
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"  # all but tab, newline, carriage return
_TEXT_CONTROL = r"\x00-\x08\x0e-\x1f\x7f"  # an article may also break pages (\v, \f)
_SPACE = r" \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # str.isspace()
_TEXT_BLANK = r"\t\n\x0b\x0c\r" + _SPACE
_FIELD_BLANK = r"\t\n\r" + _SPACE


def _non_blank(blank: str, control: str) -> str:
    # Leading blanks, one visible character, then anything but a control character. Linear
    # however long the text (a lookahead or nested repetition could backtrack on 2 MB).
    return f"^[{blank}]*[^{blank}{control}][^{control}]*$"


TEXT_PATTERN = _non_blank(_TEXT_BLANK, _TEXT_CONTROL)
QUESTION_PATTERN = _non_blank(_FIELD_BLANK, _CONTROL)
NO_CONTROL_PATTERN = f"^[^{_CONTROL}]*$"

ArticleText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        pattern=TEXT_PATTERN,
        description="The article, plain text: at least one character that is not whitespace, "
        "and no control characters but tab, newline, carriage return, form feed and vertical "
        "tab. Longer than MAX_TEXT_CHARS characters: 413.",
    ),
]
Question = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        pattern=QUESTION_PATTERN,
        description="A question about the article: at least one character that is not "
        "whitespace, no control characters but tab, newline and carriage return, at most "
        "MAX_QUESTION_CHARS characters.",
    ),
]
Title = Annotated[
    str,
    msgspec.Meta(
        max_length=500, pattern=NO_CONTROL_PATTERN, description="Optional title of the article."
    ),
]
Url = Annotated[
    str,
    msgspec.Meta(
        max_length=2048, pattern=NO_CONTROL_PATTERN, description="Optional source address."
    ),
]
Focus = Annotated[
    str,
    msgspec.Meta(
        max_length=1000,
        pattern=NO_CONTROL_PATTERN,
        description="Optional topic the summary should focus on.",
    ),
]

# The service's own check of each constrained field, by name: when a pattern refuses a
# value, this says in words what is wrong with it (the 422's detail).
FIELD_CHECKS: dict[str, Callable[[str], object]] = {
    "text": lambda value: check_text(value, sys.maxsize),
    "question": lambda value: check_question(value, sys.maxsize),
    "title": lambda value: check_field(value, "title"),
    "url": lambda value: check_field(value, "url"),
    "focus": lambda value: check_field(value, "focus"),
}


class DocumentIn(msgspec.Struct, forbid_unknown_fields=True):
    """An article to store."""

    text: ArticleText
    title: Title | None = None
    url: Url | None = None


class SummaryRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Options of a summary."""

    length: SummaryLength = "medium"
    format: SummaryFormat = "paragraph"
    focus: Focus | None = None


class SummarizeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """One-shot summary of a text that is stored on the way."""

    text: ArticleText
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

    question: Question
    min_answerability: MinAnswerability | None = None


class AskRequest(msgspec.Struct, forbid_unknown_fields=True):
    """One-shot question: give the text, or the id of a stored document."""

    question: Question
    text: ArticleText | None = None
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


class ListedDocument(msgspec.Struct):
    """A stored document in a listing."""

    id: str
    title: str | None
    url: str | None
    chars: int
    created_at: str


class DocumentPage(msgspec.Struct):
    """One page of stored documents, newest first."""

    documents: list[ListedDocument]
    next_cursor: Annotated[
        str | None,
        msgspec.Meta(
            description="Pass as `cursor` for the next page; null on the last page. Opaque."
        ),
    ]


class DocumentDetail(DocumentOut):
    """A stored document with its text and sentence spans."""

    text: str = ""
    sentence_spans: Annotated[
        list[tuple[int, int]],
        msgspec.Meta(
            description="Each sentence as [start, end]: text[start:end], in code points, "
            "end-exclusive; a citation's `sentence` indexes this list."
        ),
    ] = []

    @classmethod
    def of(cls, document: Document) -> DocumentDetail:
        base = DocumentOut.of(document)
        return cls(
            **msgspec.structs.asdict(base),
            text=document.text,
            sentence_spans=document.segmentation.sentence_spans,
        )
