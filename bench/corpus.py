"""Benchmark texts built from the shared reference data (real English, not lorem ipsum)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from bench.common import SHARED_DATA
from service.domain import Document
from service.pipeline.ingest import make_document
from service.settings import Settings

CORPUS_FILES = ("squad2_dev_articles.jsonl", "squad2_dev_paragraphs.jsonl", "cnndm_dev.jsonl")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@functools.cache
def unique_paragraphs() -> tuple[str, ...]:
    """Every paragraph of the three files once: the SQuAD articles are the SQuAD paragraphs
    joined, so de-duplicating paragraphs (not documents) is what makes the text unique."""
    seen: set[str] = set()
    paragraphs: list[str] = []
    for name in CORPUS_FILES:
        for row in read_jsonl(SHARED_DATA / name):
            for paragraph in row["text"].split("\n\n"):
                paragraph = paragraph.strip()
                if paragraph and paragraph not in seen:
                    seen.add(paragraph)
                    paragraphs.append(paragraph)
    return tuple(paragraphs)


def text_of_size(target_bytes: int) -> str:
    """About target_bytes of UTF-8 text: the corpus repeated, each paragraph of copy k
    suffixed with "(k)" so no two paragraphs are equal (copy 0 is the corpus as is)."""
    parts: list[str] = []
    size = 0
    copy = 0
    while size < target_bytes:
        for paragraph in unique_paragraphs():
            piece = paragraph if copy == 0 else f"{paragraph} ({copy})"
            parts.append(piece)
            size += len(piece.encode("utf-8")) + 2
            if size >= target_bytes:
                break
        copy += 1
    return "\n\n".join(parts)


def long_articles() -> list[dict[str, Any]]:
    """The two long SQuAD articles with their questions."""
    return read_jsonl(SHARED_DATA / "squad2_dev_articles.jsonl")


def document_of(text: str) -> Document:
    """text as the service would store it (default segmentation settings)."""
    settings = Settings()
    return make_document(text, settings.chunk_tokens, settings.chunk_overlap_tokens)
