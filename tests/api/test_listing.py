"""GET /v1/documents: stored documents newest first, keyset-paginated with an opaque
cursor (issue #13)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from service.domain import Document
from service.pipeline.ingest import make_document
from service.store.documents import DocumentStore
from tests.api.helpers import assert_problem


def _document(n: int, created_at: str) -> Document:
    document = make_document(f"Article number {n} says something. It ends here.", 256, 32)
    return Document(
        id=f"doc_{n:04d}",
        text=document.text,
        title=f"Title {n}",
        url=None,
        created_at=created_at,
        segmentation=document.segmentation,
    )


async def _fill(client, count: int) -> list[str]:
    ids = []
    for n in range(count):
        created = await client.post(
            "/v1/documents", json={"text": f"Article {n} is short. Really.", "title": f"T{n}"}
        )
        ids.append(created.json()["id"])
    return ids


async def _walk(client, limit: int) -> list[dict]:
    seen, cursor = [], None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/v1/documents", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["documents"]) <= limit
        seen += body["documents"]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


async def test_an_empty_store_lists_nothing(client):
    response = await client.get("/v1/documents")
    assert response.json() == {"documents": [], "next_cursor": None}


async def test_pages_walk_every_document_once_newest_first(client):
    stored = await _fill(client, 7)
    listed = await _walk(client, limit=3)
    assert sorted(d["id"] for d in listed) == sorted(stored)
    keys = [(d["created_at"], d["id"]) for d in listed]
    assert keys == sorted(keys, reverse=True)  # newest first, ties by id
    first = listed[0]
    assert set(first) == {"id", "title", "url", "chars", "created_at"}
    assert first["chars"] == len(f"Article {stored.index(first['id'])} is short. Really.")


async def test_documents_stored_while_paging_do_not_shift_later_pages(client, settings):
    # Keyset pagination: the cursor names the last document seen, not an offset, so new
    # documents (which are newer) never push an unseen one onto a page already read.
    stored = await _fill(client, 5)
    first = (await client.get("/v1/documents", params={"limit": 2})).json()
    await _fill_more(client)
    rest = []
    cursor = first["next_cursor"]
    while cursor:
        page = (await client.get("/v1/documents", params={"limit": 2, "cursor": cursor})).json()
        rest += page["documents"]
        cursor = page["next_cursor"]
    old = {d["id"] for d in first["documents"]} | {d["id"] for d in rest}
    assert set(stored) <= old and len(old) == len(first["documents"]) + len(rest)


async def _fill_more(client) -> None:
    for n in range(3):
        await client.post("/v1/documents", json={"text": f"Later article {n}. Stored after."})


async def test_the_limit_defaults_to_20_and_is_bounded(client):
    await _fill(client, 22)
    default = (await client.get("/v1/documents")).json()
    assert len(default["documents"]) == 20 and default["next_cursor"]
    for bad in ("0", "101", "-1", "many"):
        assert_problem(await client.get("/v1/documents", params={"limit": bad}), 422)


@pytest.mark.parametrize(
    "cursor", ["x", "not base64!", "WzFd", "eyJhIjoxfQ", "W251bGwsbnVsbF0", "%%%"]
)
async def test_a_cursor_the_service_did_not_give_out_is_a_400(client, cursor):
    # x, bad alphabet, [1], {"a":1}, [null,null], junk
    body = assert_problem(await client.get("/v1/documents", params={"cursor": cursor}), 400)
    assert body["type"].endswith("invalid-cursor")


async def test_a_deleted_document_leaves_the_listing(client):
    stored = await _fill(client, 3)
    assert (await client.delete(f"/v1/documents/{stored[1]}")).status_code == 204
    listed = await _walk(client, limit=10)
    assert {d["id"] for d in listed} == {stored[0], stored[2]}


async def test_same_second_documents_page_by_id(tmp_path: Path):
    # created_at has one-second resolution: ties are common, and the id breaks them.
    store = DocumentStore(tmp_path / "docs.sqlite3")
    await store.open()
    try:
        for n in range(5):
            await store.add(_document(n, "2026-01-01T00:00:00+00:00"))
        await store.add(_document(9, "2026-01-02T00:00:00+00:00"))
        first = await store.newest(3)
        rest = await store.newest(10, (first[-1].created_at, first[-1].id))
    finally:
        await store.close()
    assert [d.id for d in first + rest] == [
        "doc_0009", "doc_0004", "doc_0003", "doc_0002", "doc_0001", "doc_0000"
    ]  # fmt: skip


async def test_a_database_from_before_listing_is_upgraded_at_open(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    store = DocumentStore(path)
    await store.open()
    await store.add(_document(1, "2026-01-01T00:00:00+00:00"))
    await store.close()
    # Make it look like the schema before listing: no chars column, no index.
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX documents_newest_first")
        conn.execute("ALTER TABLE documents DROP COLUMN chars")
    store = DocumentStore(path)
    await store.open()
    try:
        (listed,) = await store.newest(5)
        plan = (
            store._db()
            .execute(
                "EXPLAIN QUERY PLAN SELECT id, title, url, chars, created_at FROM documents"
                " WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT 5",
                ("z", "z"),
            )
            .fetchall()
        )
    finally:
        await store.close()
    assert listed.chars == len(_document(1, "").text)
    # Listing reads the index alone, never a row (whose text may be megabytes).
    assert "COVERING INDEX documents_newest_first" in str(plan)
