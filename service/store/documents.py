"""Document persistence: SQLite (WAL, one transaction per write) with an LRU in front.

The embedded default; service/store/postgres.py is the shared one for replicas."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import msgspec

from service.domain import Document, Segmentation
from service.lru import LRU
from service.observability.metrics import DOCUMENTS_DELETED, DOCUMENTS_STORED
from service.store.base import ListedDocument

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    title TEXT,
    url TEXT,
    created_at TEXT NOT NULL,
    segmentation BLOB NOT NULL,
    chars INTEGER
) STRICT;
"""
# Listing walks this index newest first, a page at a time (keyset pagination). It covers
# every listed column: the rows keep their text before title and url, and reading past a
# long text would walk its overflow pages.
_LISTING_INDEX = (
    "CREATE INDEX IF NOT EXISTS documents_newest_first"
    " ON documents (created_at DESC, id DESC, title, url, chars)"
)
_LISTING = "SELECT id, title, url, chars, created_at FROM documents"
_NEWEST_FIRST = " ORDER BY created_at DESC, id DESC LIMIT ?"


_INCREMENTAL = 2  # PRAGMA auto_vacuum value
# 1024 pages of 4 KiB: reclaim once 4 MiB are free, not after every small delete.
_RECLAIM_PAGES = 1024
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Segmentation)


class KeyedLocks:
    """One asyncio lock per key, existing only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class DocumentStore:
    """Stored documents survive restarts; reads are served from memory when hot.

    The database is the truth and the in-memory cache follows it: every operation
    that changes what the cache should hold for an id (insert, delete, a read that
    misses) runs under that id's lock, and the cache is updated only after the
    database, so an acknowledged write is always in the database and a deleted
    document is never served from memory afterwards.
    """

    def __init__(self, path: Path, cache_bytes: int = 256 << 20, cache_items: int = 1024) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._cache: LRU[Document] = LRU(cache_items, cache_bytes, Document.approx_bytes)
        self._ids = KeyedLocks()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._path != Path(":memory:"):
            self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        # Incremental auto-vacuum: deleted documents' pages go back to the file system
        # (see _reclaim). Switching an existing database over needs one full VACUUM.
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("VACUUM")
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged document is on disk even if the machine loses power.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(_SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(documents)")}
        if "chars" not in columns:
            # A database from before listing: the length is counted once, here, so a
            # listing never reads whole texts.
            conn.execute("ALTER TABLE documents ADD COLUMN chars INTEGER")
            conn.execute("UPDATE documents SET chars = length(text)")
        conn.execute(_LISTING_INDEX)
        return conn

    async def open(self) -> None:
        """Open (and create) the database file."""
        self._conn = await anyio.to_thread.run_sync(self._connect)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await anyio.to_thread.run_sync(conn.close)

    @property
    def is_open(self) -> bool:
        """True between open() and close()."""
        return self._conn is not None

    async def check(self) -> tuple[bool, str]:
        """(usable, why) for readiness: open, and answering a query. A write in progress
        (the lock taken) counts as answering: readiness must not queue behind it."""

        def probe() -> tuple[bool, str]:
            if not self._lock.acquire(blocking=False):
                return True, "the store is open (writing)"
            try:
                self._db().execute("SELECT 1").fetchone()
            except (sqlite3.Error, RuntimeError) as exc:
                return False, f"the store does not answer: {exc}"
            finally:
                self._lock.release()
            return True, "the store is open"

        if self._conn is None:
            return False, "the store is closed"
        return await anyio.to_thread.run_sync(probe)

    async def newest(
        self, limit: int, after: tuple[str, str] | None = None
    ) -> list[ListedDocument]:
        """Up to limit documents, newest first (created_at, then id, descending), starting
        after the (created_at, id) given: one step of keyset pagination."""

        def read() -> list[ListedDocument]:
            with self._lock:
                if after is None:
                    cursor = self._db().execute(_LISTING + _NEWEST_FIRST, (limit,))
                else:
                    where = " WHERE (created_at, id) < (?, ?)"
                    cursor = self._db().execute(_LISTING + where + _NEWEST_FIRST, (*after, limit))
                rows = cursor.fetchall()
            return [ListedDocument(*row) for row in rows]

        return await anyio.to_thread.run_sync(read)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("DocumentStore.open() was not awaited")
        return self._conn

    async def get(self, doc_id: str) -> Document | None:
        """The stored document, or None."""
        cached = self._cache.get(doc_id)
        if cached is not None:
            return cached
        async with self._ids.hold(doc_id):
            cached = self._cache.get(doc_id)  # read by whoever held the lock before us
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
        """Store a document; False if one with the same id was already stored. When this
        returns, the document is durably in the database."""
        async with self._ids.hold(document.id):
            inserted = await anyio.to_thread.run_sync(self._insert, document)
            if inserted:
                self._cache.put(document.id, document)
                DOCUMENTS_STORED.inc()
        return inserted

    def _insert(self, document: Document) -> bool:
        blob = _encoder.encode(document.segmentation)
        with self._lock:
            cursor = self._db().execute(
                "INSERT OR IGNORE INTO documents"
                " (id, text, title, url, created_at, segmentation, chars)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    document.id,
                    document.text,
                    document.title,
                    document.url,
                    document.created_at,
                    blob,
                    len(document.text),
                ),
            )
        return cursor.rowcount == 1

    async def delete(self, doc_id: str) -> bool:
        """Remove a document; False if there was none."""
        async with self._ids.hold(doc_id):
            try:
                deleted = await anyio.to_thread.run_sync(self._delete, doc_id)
                if deleted:
                    DOCUMENTS_DELETED.inc()
                return deleted
            finally:
                # After the row is gone, whatever happened: the cache must not outlive it.
                self._cache.pop(doc_id)

    def _delete(self, doc_id: str) -> bool:
        with self._lock:
            conn = self._db()
            deleted = conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount == 1
            if deleted:
                self._reclaim(conn)
        return deleted

    @staticmethod
    def _reclaim(conn: sqlite3.Connection) -> None:
        # Give free pages back to the file system once they add up to a few MB, so a
        # store whose documents come and go does not keep its high-water size on disk.
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        if free >= _RECLAIM_PAGES:
            # executescript steps the pragma to the end; execute() would free one page.
            conn.executescript("PRAGMA incremental_vacuum;")

    async def disk_usage(self) -> tuple[int, int]:
        """(pages in the file, free pages in it), for tests and operators."""

        def read() -> tuple[int, int]:
            with self._lock:
                conn = self._db()
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            return int(pages), int(free)

        return await anyio.to_thread.run_sync(read)

    def on_delete(self, callback: Callable[[str], None]) -> None:
        """One process owns the file: every delete goes through this store, so there is
        nothing from elsewhere to report."""
