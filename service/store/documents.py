"""Document persistence: SQLite (WAL, one transaction per write) with an LRU in front."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import anyio
import msgspec

from service.domain import Document, Segmentation
from service.pipeline.cache import ResultCache

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    title TEXT,
    url TEXT,
    created_at TEXT NOT NULL,
    segmentation BLOB NOT NULL
) STRICT;
"""
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Segmentation)


def document_id(text: str) -> str:
    """Content address of a text: the same text always gets the same id."""
    return "doc_" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class DocumentStore:
    """Stored documents survive restarts; reads are served from memory when hot."""

    def __init__(self, path: Path, cache_size: int = 128) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._cache: ResultCache[Document] = ResultCache(cache_size)
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._path != Path(":memory:"):
            self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged document is on disk even if the machine loses power.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(_SCHEMA)
        return conn

    async def open(self) -> None:
        """Open (and create) the database file."""
        self._conn = await anyio.to_thread.run_sync(self._connect)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await anyio.to_thread.run_sync(conn.close)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("DocumentStore.open() was not awaited")
        return self._conn

    async def get(self, doc_id: str) -> Document | None:
        """The stored document, or None."""
        cached = self._cache.get(doc_id)
        if cached is not None:
            return cached
        document = await anyio.to_thread.run_sync(self._read, doc_id)
        if document is not None:
            self._cache.put(doc_id, document)
        return document

    def _read(self, doc_id: str) -> Document | None:
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT id, text, title, url, created_at, segmentation FROM documents WHERE id = ?",
                    (doc_id,),
                )
                .fetchone()
            )
        if row is None:
            return None
        return Document(
            id=row[0],
            text=row[1],
            title=row[2],
            url=row[3],
            created_at=row[4],
            segmentation=_decoder.decode(row[5]),
        )

    async def add(self, document: Document) -> bool:
        """Store a document; False if one with the same id was already stored."""
        inserted = await anyio.to_thread.run_sync(self._insert, document)
        if inserted:
            self._cache.put(document.id, document)
        return inserted

    def _insert(self, document: Document) -> bool:
        blob = _encoder.encode(document.segmentation)
        with self._lock:
            cursor = self._db().execute(
                "INSERT OR IGNORE INTO documents (id, text, title, url, created_at, segmentation)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    document.id,
                    document.text,
                    document.title,
                    document.url,
                    document.created_at,
                    blob,
                ),
            )
        return cursor.rowcount == 1

    async def delete(self, doc_id: str) -> bool:
        """Remove a document; False if there was none."""
        self._cache.drop_prefix(doc_id)

        def _delete() -> bool:
            with self._lock:
                return (
                    self._db().execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount
                    == 1
                )

        return await anyio.to_thread.run_sync(_delete)
