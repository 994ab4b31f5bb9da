"""Document persistence shared by replicas: PostgreSQL (asyncpg, bounded pool) with a
per-replica LRU in front, kept honest by a published invalidation on every delete."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import msgspec

from service.domain import Document, Segmentation
from service.errors import StorageUnavailable
from service.lru import LRU
from service.observability.metrics import DOCUMENTS_DELETED, DOCUMENTS_STORED
from service.store.base import ListedDocument, StoreStartupError
from service.store.documents import KeyedLocks

log = logging.getLogger(__name__)
T = TypeVar("T")

# Every replica LISTENs here; a delete NOTIFYs the id in its own transaction, so the
# message goes out exactly when the row is gone.
DELETED_CHANNEL = "documents_deleted"
# Serialises schema changes of replicas starting at once (pg_advisory_xact_lock key).
_SCHEMA_LOCK = 0x6772_6F75_6E64  # "ground"
# Version n is reached by running MIGRATIONS[n - 1]; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        text TEXT NOT NULL,
        title TEXT,
        url TEXT,
        created_at TEXT NOT NULL,
        segmentation BYTEA NOT NULL
    )
    """,
    # 2: the listing (GET /v1/documents): length kept, newest first by an index.
    """
    ALTER TABLE documents ADD COLUMN chars INTEGER;
    UPDATE documents SET chars = char_length(text);
    ALTER TABLE documents ALTER COLUMN chars SET NOT NULL;
    CREATE INDEX documents_newest ON documents (created_at DESC, id DESC);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
# Errors that mean "the database is not there right now" (as opposed to a bug).
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
)
_RECONNECT_S = 1.0  # how often a lost invalidation listener tries to come back
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Segmentation)


def redacted(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def migrate(conn: asyncpg.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION (one transaction, one replica at a time);
    returns the version found before."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        found = await conn.fetchval("SELECT max(version) FROM schema_version") or 0
        if found > SCHEMA_VERSION:
            raise StoreStartupError(
                f"the database schema is at version {found}, newer than this service's "
                f"{SCHEMA_VERSION}: run a newer release"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            await conn.execute(MIGRATIONS[version - 1])
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
        return int(found)


class PostgresDocumentStore:
    """Documents in PostgreSQL, hot ones in this replica's memory.

    Documents are content-addressed and immutable, so a cached copy is right for as
    long as the row exists; deletes are the only change, and each is published to every
    replica (NOTIFY), which drops its copy and the document's cached results. While the
    listener is disconnected a replica cannot hear deletes, so on reconnecting it drops
    everything it cached.

    A read that misses the cache loads the row and then caches it; a delete heard in
    between (its row was read before the delete committed) marks the load stale, so
    its copy is returned to that caller but never cached after the delete. Deletes
    are heard at once: eviction does not wait behind loads in flight.
    """

    def __init__(
        self,
        url: str,
        pool_size: int = 10,
        cache_bytes: int = 256 << 20,
        cache_items: int = 1024,
        timeout_s: float = 5.0,
    ) -> None:
        self._url = url
        self._pool_size = pool_size
        self._timeout_s = timeout_s
        self._cache: LRU[Document] = LRU(cache_items, cache_bytes, Document.approx_bytes)
        self._ids = KeyedLocks()
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._subscribers: list[Callable[[str], None]] = []
        # Reads of the database in flight, by id: True once a delete of the id (or a
        # reconnected listener's "anything may be gone") was heard while it ran.
        self._loading: dict[str, list[bool]] = {}

    async def open(self) -> None:
        """Connect the pool and the listener, and create or migrate the schema."""
        where = redacted(self._url)
        try:
            self._pool = await asyncpg.create_pool(
                self._url,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._timeout_s,
                command_timeout=self._timeout_s,
            )
            async with self._pool.acquire() as conn:
                found = await migrate(conn)
            await self._listen()
        except StoreStartupError:
            await self.close()
            raise
        except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
            await self.close()
            raise StoreStartupError(
                f"DATABASE_URL: cannot use PostgreSQL at {where}: {exc or type(exc).__name__}"
            ) from exc
        if found < SCHEMA_VERSION:
            log.info("database schema at %s migrated from %d to %d", where, found, SCHEMA_VERSION)
        self._watcher = asyncio.ensure_future(self._keep_listening())

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if self._listener is not None:
            listener, self._listener = self._listener, None
            listener.terminate()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.terminate()

    def on_delete(self, callback: Callable[[str], None]) -> None:
        """Call back with the id of every deleted document (any replica's delete);
        `"*"` after a lost listener came back: anything may have been deleted."""
        self._subscribers.append(callback)

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._url, timeout=self._timeout_s)
        await conn.add_listener(DELETED_CHANNEL, self._heard)
        self._listener = conn

    async def _keep_listening(self) -> None:
        while True:
            await asyncio.sleep(_RECONNECT_S)
            if self._listener is not None and not self._listener.is_closed():
                continue
            try:
                await self._listen()
            except (*_UNAVAILABLE, asyncpg.PostgresError):
                continue
            log.warning("document invalidations reconnected: dropping every cached document")
            self._evict("*")

    def _heard(self, _conn: Any, _pid: int, _channel: str, doc_id: str) -> None:
        self._evict(doc_id)

    def _evict(self, doc_id: str) -> None:
        """Forget a deleted document ("*": any document) now, synchronously: loads in
        flight are marked stale first, so none of them caches it afterwards."""
        if doc_id == "*":
            for stale in self._loading.values():
                stale[0] = True
            self._cache.pop_where(lambda _: True)
        else:
            stale = self._loading.get(doc_id)
            if stale is not None:
                stale[0] = True
            self._cache.pop(doc_id)
        self._publish(doc_id)

    def _publish(self, doc_id: str) -> None:
        for callback in self._subscribers:
            callback(doc_id)

    async def _run(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run on a pooled connection; once more on a fresh one when the first was cut
        (a database restart breaks every pooled connection); then 503."""
        if self._pool is None:
            raise RuntimeError("PostgresDocumentStore.open() was not awaited")
        for attempt in (1, 2):
            try:
                async with self._pool.acquire(timeout=self._timeout_s) as conn:
                    return await operation(conn)
            except _UNAVAILABLE as exc:
                # Every pooled connection is suspect now: replace them on next use.
                await self._pool.expire_connections()
                if attempt == 2:
                    raise StorageUnavailable(
                        "the document database is unreachable; retry shortly",
                        headers={"Retry-After": "1"},
                    ) from exc
        raise AssertionError("unreachable")

    async def get(self, doc_id: str) -> Document | None:
        """The stored document, or None."""
        cached = self._cache.get(doc_id)
        if cached is not None:
            return cached
        async with self._ids.hold(doc_id):
            cached = self._cache.get(doc_id)
            if cached is not None:
                return cached
            # One load per id at a time here (the id's lock); marked by deletes heard.
            stale = self._loading[doc_id] = [False]
            try:
                row = await self._run(
                    lambda conn: conn.fetchrow(
                        "SELECT id, text, title, url, created_at, segmentation"
                        " FROM documents WHERE id = $1",
                        doc_id,
                    )
                )
            finally:
                del self._loading[doc_id]
            if row is None:
                return None
            document = Document(
                id=row[0],
                text=row[1],
                title=row[2],
                url=row[3],
                created_at=row[4],
                segmentation=_decoder.decode(row[5]),
            )
            if not stale[0]:  # a delete heard meanwhile: read before it, not cached after
                self._cache.put(doc_id, document)
        return document

    async def add(self, document: Document) -> bool:
        """Store a document; False if it was already stored. When this returns, the row
        is committed."""
        blob = _encoder.encode(document.segmentation)
        async with self._ids.hold(document.id):
            status = await self._run(
                lambda conn: conn.execute(
                    "INSERT INTO documents (id, text, title, url, created_at, segmentation,"
                    " chars) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                    document.id,
                    document.text,
                    document.title,
                    document.url,
                    document.created_at,
                    blob,
                    len(document.text),
                )
            )
            inserted = status == "INSERT 0 1"
            if inserted:
                DOCUMENTS_STORED.inc()
                self._cache.put(document.id, document)
        return inserted

    async def delete(self, doc_id: str) -> bool:
        """Remove a document and tell every replica; False if there was none."""

        async def remove(conn: asyncpg.Connection) -> bool:
            async with conn.transaction():
                status = await conn.execute("DELETE FROM documents WHERE id = $1", doc_id)
                if status != "DELETE 1":
                    return False
                await conn.execute("SELECT pg_notify($1, $2)", DELETED_CHANNEL, doc_id)
                return True

        async with self._ids.hold(doc_id):
            try:
                removed = await self._run(remove)
            finally:
                self._cache.pop(doc_id)
        if removed:
            DOCUMENTS_DELETED.inc()
        return removed

    async def newest(
        self, limit: int, after: tuple[str, str] | None = None
    ) -> list[ListedDocument]:
        """Up to limit documents, newest first (created_at, then id, descending), starting
        after the (created_at, id) given: one step of keyset pagination."""
        listing = "SELECT id, title, url, chars, created_at FROM documents"
        order = " ORDER BY created_at DESC, id DESC LIMIT "
        if after is None:
            rows = await self._run(lambda conn: conn.fetch(listing + order + "$1", limit))
        else:
            where = " WHERE (created_at, id) < ($1, $2)"
            rows = await self._run(
                lambda conn: conn.fetch(listing + where + order + "$3", *after, limit)
            )
        return [ListedDocument(*row) for row in rows]

    async def check(self) -> tuple[bool, str]:
        """(usable, why) for readiness: a pooled `SELECT 1`; once more on a fresh
        connection when the pooled one was cut (a database restart breaks every pooled
        connection, and readiness should say so once, not once per connection). The
        caller bounds how long this may take (see service/api/health.py)."""
        if self._pool is None:
            return False, "the store is closed"
        for attempt in (1, 2):
            try:
                async with self._pool.acquire(timeout=self._timeout_s) as conn:
                    await conn.fetchval("SELECT 1", timeout=self._timeout_s)
                return True, "PostgreSQL answers"
            except _UNAVAILABLE as exc:
                await self._pool.expire_connections()
                if attempt == 2:
                    return False, f"PostgreSQL does not answer: {_reason(exc)}"
            except asyncpg.PostgresError as exc:
                return False, f"PostgreSQL refuses the check: {_reason(exc)}"
        raise AssertionError("unreachable")


def _reason(exc: BaseException) -> str:
    """An exception as a readiness detail: the driver's message (which names no
    password), or its type when it has none."""
    return str(exc) or type(exc).__name__
