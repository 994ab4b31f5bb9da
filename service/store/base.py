"""What the API and pipeline need from a document store, whichever engine holds it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from service.domain import Document


@dataclass(frozen=True, slots=True)
class ListedDocument:
    """A stored document as a listing shows it (no text, no segmentation)."""

    id: str
    title: str | None
    url: str | None
    chars: int
    created_at: str


class StoreStartupError(RuntimeError):
    """The configured database cannot be used (unreachable, refused, newer schema)."""


@runtime_checkable
class Documents(Protocol):
    """Stored documents: SQLite in one process, PostgreSQL shared by replicas."""

    async def open(self) -> None:
        """Connect (and create or migrate the schema)."""

    async def close(self) -> None:
        """Release connections."""

    async def get(self, doc_id: str) -> Document | None:
        """The stored document, or None."""

    async def add(self, document: Document) -> bool:
        """Store a document durably; False if it was already stored."""

    async def delete(self, doc_id: str) -> bool:
        """Remove a document; False if there was none."""

    def on_delete(self, callback: Callable[[str], None]) -> None:
        """Call back with the id of every document deleted by another replica."""

    async def newest(
        self, limit: int, after: tuple[str, str] | None = None
    ) -> list[ListedDocument]:
        """Up to limit documents, newest first, after the (created_at, id) given."""

    async def check(self) -> tuple[bool, str]:
        """(usable, why) for readiness."""
