"""The PostgreSQL document store against a real PostgreSQL (issue #14): the same
contract as the SQLite store, a versioned schema, deletes heard by every replica, and
clear errors when the database is away."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from service.errors import StorageUnavailable
from service.pipeline.ingest import make_document
from service.store.base import StoreStartupError
from service.store.postgres import SCHEMA_VERSION, PostgresDocumentStore
from tests.servers import PostgresServer


def _document(text: str = "Alice met Bob in Paris. Bob went home to Lyon afterwards."):
    return make_document(text, 256, 32, "A title", None, 0)


async def _opened(url: str) -> PostgresDocumentStore:
    store = PostgresDocumentStore(url, pool_size=3)
    await store.open()
    return store


async def test_documents_round_trip_and_the_schema_is_versioned(database_url):
    store = await _opened(database_url)
    try:
        document = _document()
        assert await store.add(document) is True
        assert await store.add(document) is False  # content-addressed: stored once
        # A second replica reads it from the database, not from the first one's memory.
        other = await _opened(database_url)
        try:
            assert await other.get(document.id) == document
        finally:
            await other.close()
        assert await store.delete(document.id) is True
        assert await store.get(document.id) is None
        assert await store.delete(document.id) is False
    finally:
        await store.close()
    conn = await asyncpg.connect(database_url)
    try:
        versions = await conn.fetch("SELECT version FROM schema_version ORDER BY version")
    finally:
        await conn.close()
    # Migrated once, although two stores opened it.
    assert [row[0] for row in versions] == list(range(1, SCHEMA_VERSION + 1))


async def test_a_delete_through_one_replica_drops_the_copy_every_other_replica_cached(
    database_url,
):
    first, second = await _opened(database_url), await _opened(database_url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    second.on_delete(heard.put_nowait)
    try:
        document = _document()
        await first.add(document)
        assert await second.get(document.id) == document  # now cached by the second
        assert await first.delete(document.id)
        assert await asyncio.wait_for(heard.get(), 10) == document.id
        assert await second.get(document.id) is None
    finally:
        await first.close()
        await second.close()


async def test_an_unreachable_database_is_a_clear_start_up_error(postgres_server):
    url = f"postgresql://postgres:secret@127.0.0.1:{postgres_server.port + 1}/nowhere"
    with pytest.raises(StoreStartupError) as raised:
        await PostgresDocumentStore(url, timeout_s=2).open()
    assert "DATABASE_URL" in str(raised.value) and "secret" not in str(raised.value)


async def test_a_schema_newer_than_the_service_refuses_to_start(database_url):
    await (await _opened(database_url)).close()
    conn = await asyncpg.connect(database_url)
    await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", SCHEMA_VERSION + 1)
    await conn.close()
    with pytest.raises(StoreStartupError, match="newer"):
        await PostgresDocumentStore(database_url).open()


async def test_a_stopped_database_is_a_503_and_everything_comes_back_with_it():
    server = PostgresServer().start()
    store = await _opened(server.url())
    heard: asyncio.Queue[str] = asyncio.Queue()
    store.on_delete(heard.put_nowait)
    try:
        kept = _document("Kept. This document was acknowledged before the outage.")
        assert await store.add(kept)
        server.stop()
        with pytest.raises(StorageUnavailable):
            await store.add(_document("Refused. Nobody acknowledged this one."))
        with pytest.raises(StorageUnavailable):
            await store.get("0" * 64)
        server.start()
        # The listener reconnects and, having been deaf meanwhile, drops every copy.
        assert await asyncio.wait_for(heard.get(), 30) == "*"
        assert await store.get(kept.id) == kept
        assert await store.add(_document("After. Stored once the database was back."))
    finally:
        await store.close()
        server.cleanup()


async def test_the_listing_pages_newest_first_and_the_store_answers_readiness(database_url):
    store = await _opened(database_url)
    try:
        mine = [
            _document(f"Listing test article number {i}. It has two sentences.") for i in range(5)
        ]
        for document in mine:
            await store.add(document)
        seen, after = [], None
        while True:
            page = await store.newest(2, after)
            seen.extend(page)
            if len(page) < 2:
                break
            after = (page[-1].created_at, page[-1].id)
        keys = [(d.created_at, d.id) for d in seen]
        assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
        listed = {d.id: d for d in seen}
        for document in mine:
            assert listed[document.id].chars == len(document.text)
            assert listed[document.id].title == "A title"
        assert (await store.check())[0] is True
    finally:
        await store.close()
    assert (await store.check())[0] is False


class _PausedLoad:
    """Holds a store's next database read after the row came back and before the store
    does anything with it: the window in which another replica's delete can land."""

    def __init__(self, store: PostgresDocumentStore) -> None:
        self.read, self.release = asyncio.Event(), asyncio.Event()
        original = store._run

        async def paused(operation):  # type: ignore[no-untyped-def]
            result = await original(operation)
            if not self.read.is_set():
                self.read.set()
                await self.release.wait()
            return result

        store._run = paused  # type: ignore[method-assign]


async def test_a_load_under_way_when_a_delete_is_heard_does_not_cache_the_document(
    database_url,
):
    first, second = await _opened(database_url), await _opened(database_url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    second.on_delete(heard.put_nowait)
    try:
        document = _document("Loaded while deleted. The second replica reads it slowly.")
        await first.add(document)
        paused = _PausedLoad(second)
        loading = asyncio.ensure_future(second.get(document.id))
        await asyncio.wait_for(paused.read.wait(), 10)  # the row was read before the delete
        assert await first.delete(document.id)
        # Heard at once, although a load of that very id is still under way.
        assert await asyncio.wait_for(heard.get(), 10) == document.id
        paused.release.set()
        assert await loading == document  # it started before the delete
        assert await second.get(document.id) is None  # and did not cache it after
    finally:
        await first.close()
        await second.close()


async def test_a_load_under_way_when_the_listener_comes_back_does_not_cache_either(
    database_url,
):
    # A delete made while the second replica's listener was cut is never heard; the
    # listener's return ("*": anything may be gone) must also stop loads in flight.
    first, second = await _opened(database_url), await _opened(database_url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    second.on_delete(heard.put_nowait)
    admin = await asyncpg.connect(database_url)
    try:
        document = _document("Loaded while unheard. The listener was cut meanwhile.")
        await first.add(document)
        paused = _PausedLoad(second)
        loading = asyncio.ensure_future(second.get(document.id))
        await asyncio.wait_for(paused.read.wait(), 10)
        # Cut every listening connection (both replicas'), then delete unheard.
        cut = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
        )
        assert cut == 2
        while await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
        ):
            await asyncio.sleep(0.005)  # gone (a replica looks for its listener each second)
        assert await first.delete(document.id)
        assert await asyncio.wait_for(heard.get(), 30) == "*"
        paused.release.set()
        assert await loading == document
        assert await second.get(document.id) is None
    finally:
        await admin.close()
        await first.close()
        await second.close()
