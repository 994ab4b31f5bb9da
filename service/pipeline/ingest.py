"""Use case: validate, segment once and store an article."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import anyio
import msgspec

from service.domain import Document, document_id
from service.errors import InvalidInput, TextTooLarge
from service.retrieval.dense import embed_passages
from service.settings import Settings
from service.store.base import Documents
from service.text import segment

# Control characters other than tab, newline and carriage return mark binary data.
_CONTROL = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"} | {"\x7f"}
# An article may also break pages (form feed, vertical tab: text extracted from PDFs).
# Any other control character is refused outright, not counted against a share of the
# text, so that a client (and the OpenAPI document's pattern) can tell before sending.
_TEXT_CONTROL = re.compile("[" + re.escape("".join(sorted(_CONTROL - {"\x0b", "\x0c"}))) + "]")


def check_text(text: str, max_chars: int) -> None:
    """Reject text the service cannot cite into: empty, too long, binary, unencodable."""
    if len(text) > max_chars:
        raise TextTooLarge(
            f"text has {len(text)} characters; the limit is {max_chars} (MAX_TEXT_CHARS)"
        )
    if not text.strip():
        raise InvalidInput("text is empty or only whitespace")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"text is not valid Unicode (unpaired surrogate at {exc.start})"
        ) from exc
    if control := _TEXT_CONTROL.search(text):
        raise InvalidInput(
            f"text looks like binary data: control character U+{ord(control.group()):04X} at "
            f"{control.start()} (only tab, newline, carriage return, form feed and vertical "
            "tab are allowed)"
        )


def check_field(value: str | None, name: str) -> str | None:
    """A short text field (question, title, url, focus) without control characters: a
    NUL or an escape sequence has no business in a prompt or a stored title."""
    if value is not None and any(ch in _CONTROL for ch in value):
        raise InvalidInput(f"{name} contains control characters (NUL, escape, ...)")
    return value


def check_question(question: str, max_chars: int) -> str:
    """A question without surrounding whitespace, or a clear error."""
    # Judged as sent, surrounding whitespace included: the rules a client reads in the
    # OpenAPI document (maxLength, pattern) are about the string it sends.
    if len(question) > max_chars:
        raise InvalidInput(f"question has {len(question)} characters; the limit is {max_chars}")
    check_field(question, "question")
    question = question.strip()
    if not question:
        raise InvalidInput("question is empty")
    return question


def make_document(
    text: str,
    chunk_tokens: int,
    overlap_tokens: int,
    title: str | None = None,
    url: str | None = None,
    embed_up_to_tokens: int = 0,
) -> Document:
    """A Document for text, segmented once (CPU-bound: call it off the event loop).

    An article of at most embed_up_to_tokens also gets its sentence embeddings now:
    every question on it shows all its sentences, so all of them will be needed.
    Longer ones embed the sentences retrieval picks, when it picks them.
    """
    segmentation = segment(text, chunk_tokens, overlap_tokens)
    if 0 < segmentation.tokens <= embed_up_to_tokens:
        sentences = [text[start:end] for start, end in segmentation.sentence_spans]
        vectors = embed_passages(sentences).tobytes()
        segmentation = msgspec.structs.replace(segmentation, sentence_vectors=vectors)
    return Document(
        id=document_id(text),
        text=text,
        title=title,
        url=url,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        segmentation=segmentation,
    )


async def ingest(
    store: Documents,
    settings: Settings,
    text: str,
    title: str | None = None,
    url: str | None = None,
) -> tuple[Document, bool]:
    """Store a text (segmented once); returns (document, created). Same text, same id."""
    check_text(text, settings.max_text_chars)
    check_field(title, "title")
    check_field(url, "url")
    doc_id = document_id(text)
    existing = await store.get(doc_id)
    if existing is not None:
        return existing, False
    document = await anyio.to_thread.run_sync(
        make_document,
        text,
        settings.chunk_tokens,
        settings.chunk_overlap_tokens,
        title,
        url,
        settings.context_budget_tokens if settings.dense_retrieval else 0,
    )
    created = await store.add(document)
    if not created:
        # Another request stored the same text first; answer with the stored one.
        document = await store.get(doc_id) or document
    return document, created
