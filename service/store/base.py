"""What the API and pipeline need from a document store, whichever engine holds it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from service.domain import Document


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
