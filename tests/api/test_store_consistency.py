"""Nothing acknowledged is lost: the database is the truth and every cache follows it,
under any interleaving of stores, reads and deletes of the same document (issue #17)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

from service.domain import document_id
from tests.citations import assert_valid_citations
from tests.fakes.upstream import json_reply


def in_database(path: Path, doc_id: str) -> bool:
    with sqlite3.connect(path) as conn:
        return (
            conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is not None
        )


async def _after(delay: float, call):
    await asyncio.sleep(delay)
    return await call


async def test_concurrent_store_and_delete_of_one_text_never_acknowledge_a_lost_write(
    client, settings
):
    rng = random.Random(17)
    for round_ in range(120):
        text = f"Round {round_}: Alice met Bob in Paris. Bob went home to Lyon afterwards."
        doc_id = document_id(text)
        assert (await client.post("/v1/documents", json={"text": text})).status_code == 201
        assert (await client.delete(f"/v1/documents/{doc_id}")).status_code == 204
        # POST and DELETE the same text at once (plus readers that fill the cache),
        # each after a random sub-millisecond delay.
        calls = [
            client.post("/v1/documents", json={"text": text}),
            client.delete(f"/v1/documents/{doc_id}"),
            client.get(f"/v1/documents/{doc_id}"),
            client.post("/v1/documents", json={"text": text}),
            client.get(f"/v1/documents/{doc_id}"),
        ]
        rng.shuffle(calls)
        responses = await asyncio.gather(*(_after(rng.random() / 1000, c) for c in calls))
        assert all(r.status_code < 500 for r in responses)

        stored = in_database(settings.database_path, doc_id)
        read = await client.get(f"/v1/documents/{doc_id}")
        assert read.status_code == (200 if stored else 404), (round_, read.status_code, stored)
        # Posting again acknowledges a document that is then in the database.
        again = await client.post("/v1/documents", json={"text": text})
        assert again.status_code == (200 if stored else 201)
        assert in_database(settings.database_path, doc_id)
        assert (await client.get(f"/v1/documents/{doc_id}")).status_code == 200


async def test_a_result_finished_after_its_document_was_deleted_is_not_cached(
    client, upstream, sample_article
):
    rng = random.Random(4)
    doc_id = document_id(sample_article)
    for round_ in range(8):
        question = {"question": f"Who is the Kremlin spokesperson? ({round_})"}
        upstream.reset()
        upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17}, delay_s=0.05)
        assert (
            await client.post("/v1/documents", json={"text": sample_article})
        ).status_code == 201
        asking = asyncio.ensure_future(
            client.post(f"/v1/documents/{doc_id}/answers", json=question)
        )
        # Delete while the model call is in flight (somewhere inside its 50 ms).
        while upstream.calls == 0:
            await asyncio.sleep(0.001)
        await asyncio.sleep(rng.random() * 0.04)
        assert (await client.delete(f"/v1/documents/{doc_id}")).status_code == 204
        first = await asyncio.wait_for(asking, 5)
        assert first.status_code == 200 and first.json()["cached"] is False

        # The same text stored again is a new document as far as results go.
        assert (
            await client.post("/v1/documents", json={"text": sample_article})
        ).status_code == 201
        second = await client.post(f"/v1/documents/{doc_id}/answers", json=question)
        assert second.status_code == 200
        assert second.json()["cached"] is False, round_
        assert upstream.calls == 2
        assert_valid_citations(sample_article, second.json())
        assert (await client.delete(f"/v1/documents/{doc_id}")).status_code == 204


async def test_deleted_documents_give_their_disk_space_back(settings, upstream):
    # Issue #17: 500 documents of 200 KB deleted left 125 MB and 27,606 free pages.
    from dataclasses import replace

    from service.app import create_app
    from tests.api.helpers import api_client

    async with api_client(create_app(replace(settings, memory_cache_mb=8))) as client:
        ids = []
        for i in range(120):
            text = f"Document {i}. " + "The council met to discuss grain tariffs. " * 5_000
            ids.append((await client.post("/v1/documents", json={"text": text})).json()["id"])
        with sqlite3.connect(settings.database_path) as conn:
            full = conn.execute("PRAGMA page_count").fetchone()[0]
        for doc_id in ids:
            assert (await client.delete(f"/v1/documents/{doc_id}")).status_code == 204
    with sqlite3.connect(settings.database_path) as conn:
        pages, free = (
            conn.execute("PRAGMA page_count").fetchone()[0],
            conn.execute("PRAGMA freelist_count").fetchone()[0],
        )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = settings.database_path.stat().st_size
    assert full > 5_000  # ~25 MB were stored
    assert free < 1_100 and pages < 1_200, (pages, free)
    assert size < 5 * 2**20, size
