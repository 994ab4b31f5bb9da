"""Crash durability: an acknowledged document survives `kill -9` of the service.

The real service process (scripted upstream as its model, so no model is loaded)
ingests documents sent concurrently; it is killed with SIGKILL while requests are
still in flight, restarted on the same DATABASE_PATH, and every document whose POST
was acknowledged must read back with identical text from an intact database.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import ScriptedUpstream, json_reply
from tests.service_process import free_port, start_service, stop, wait_ready

pytestmark = pytest.mark.e2e

DOCUMENTS = 80
CONCURRENCY = 8
# Kill once this many POSTs were acknowledged: the rest are queued or being written.
KILL_AFTER_ACKS = 25
WORDS = ("grain", "harbour", "treaty", "senate", "river", "winter", "council", "border", "ledger")


def make_texts(count: int) -> list[str]:
    """Distinct articles of 1 KB to 200 KB (seeded): long ones keep writes in flight."""
    rng = random.Random(20261125)
    sizes = [1_000, 200_000, *(rng.randint(1_000, 200_000) for _ in range(count - 2))]
    rng.shuffle(sizes)
    texts = []
    for index, size in enumerate(sizes):
        # A unique first sentence makes every text (and so every content id) distinct.
        parts = [f"Document {index} opens the record. "]
        length = len(parts[0])
        while length < size:
            sentence = " ".join(rng.choices(WORDS, k=12)).capitalize() + f" {rng.random():.6f}. "
            parts.append(sentence)
            length += len(sentence)
        texts.append("".join(parts)[:size].rstrip() + ".")
    return texts


SERVICE_ENV = {"LLM_MODEL": "scripted-model", "LLM_MAX_RETRIES": "0"}


async def ingest_until_killed(
    base: str, process: subprocess.Popen[bytes], texts: list[str]
) -> tuple[dict[str, int], int]:
    """POST every text (CONCURRENCY at a time); SIGKILL the server after KILL_AFTER_ACKS.

    Returns {id: index of its text} for acknowledged POSTs and how many were in flight
    (sent, not acknowledged) at the moment of the kill.
    """
    acknowledged: dict[str, int] = {}
    in_flight = 0
    killed = asyncio.Event()
    in_flight_at_kill = 0
    gate = asyncio.Semaphore(CONCURRENCY)

    async def post(http: httpx.AsyncClient, index: int) -> None:
        nonlocal in_flight, in_flight_at_kill
        async with gate:
            if killed.is_set():
                return
            in_flight += 1
            try:
                response = await http.post("/v1/documents", json={"text": texts[index]})
            except httpx.HTTPError:
                return  # the connection died with the server: not acknowledged
            finally:
                in_flight -= 1
            if response.status_code in (200, 201) and not killed.is_set():
                acknowledged[response.json()["id"]] = index
                if len(acknowledged) >= KILL_AFTER_ACKS:
                    # Kill before releasing the slot: the other POSTs are mid-request.
                    in_flight_at_kill = in_flight
                    process.send_signal(signal.SIGKILL)
                    killed.set()
            else:
                # Only the kill may stop an ingest; anything else is a bug of its own.
                assert killed.is_set(), f"POST {index}: {response.status_code} {response.text}"

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await asyncio.gather(*(post(http, i) for i in range(len(texts))))
    process.wait(timeout=10)
    return acknowledged, in_flight_at_kill


async def test_acknowledged_documents_survive_kill_9(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    started = time.monotonic()
    upstream.default = json_reply({"answer": "Putin", "sentence": 1})  # readyz only pings
    db_path = tmp_path / "docs.sqlite3"
    log = tmp_path / "service.log"
    texts = make_texts(DOCUMENTS)
    assert min(map(len, texts)) <= 1_001 and max(map(len, texts)) >= 199_999

    port = free_port()
    env = {**SERVICE_ENV, "LLM_BASE_URL": upstream.url}
    first = start_service(db_path, port, env, log)
    try:
        await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}", first, log)
        acknowledged, in_flight_at_kill = await ingest_until_killed(
            f"http://127.0.0.1:{port}", first, texts
        )
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL, "the server was not killed by the test"
    # The crash must land mid-ingest, or the test proves nothing about in-flight writes.
    assert len(acknowledged) >= KILL_AFTER_ACKS
    assert in_flight_at_kill > 0, "no request was in flight when the server was killed"
    assert len(acknowledged) < DOCUMENTS, "every POST finished before the kill"

    port = free_port()
    second = start_service(db_path, port, env, log)
    try:
        base = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_ready, base, second, log)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for doc_id, index in acknowledged.items():
                response = await http.get(f"/v1/documents/{doc_id}")
                assert response.status_code == 200, f"acknowledged {doc_id} lost: {response.text}"
                body = response.json()
                assert body["id"] == doc_id
                assert body["text"] == texts[index], f"{doc_id}: stored text differs"
                assert body["chars"] == len(texts[index])
        # Read while the restarted service holds the database: WAL allows a second reader.
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            stored = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        # Unacknowledged POSTs may or may not have landed; acknowledged ones must have.
        assert len(acknowledged) <= stored <= DOCUMENTS
    finally:
        stop(second)
    assert time.monotonic() - started < 30, "durability test exceeded its 30 s budget"
