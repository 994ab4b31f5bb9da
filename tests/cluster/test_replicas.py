"""Three real replica processes sharing one PostgreSQL and one Redis, the scripted
upstream as their model (issue #14). `make test-cluster` runs these."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest
import redis

from tests.api.helpers import assert_problem
from tests.fakes.upstream import ScriptedUpstream, json_reply
from tests.servers import PostgresServer, RedisServer
from tests.service_process import free_port, start_service, stop, wait_ready

pytestmark = pytest.mark.cluster

LEASE_S = 2
RATE = 10
KEYS = [f"key-{i}" for i in range(400)]
ANSWER = json_reply({"answer": "Dmitry Peskov", "sentence": 17})


@dataclass
class Cluster:
    redis: RedisServer
    postgres: PostgresServer
    env: dict[str, str]
    workdir: Path
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    keys: Iterator[str] = field(default_factory=lambda: itertools.cycle(KEYS[1:]))

    @property
    def bases(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start(self, i: int) -> None:
        log = self.workdir / f"replica-{i}.log"
        process = start_service(self.workdir / f"unused-{i}.sqlite3", self.ports[i], self.env, log)
        wait_ready(self.bases[i], process, log)
        self.processes[i] = process

    def headers(self, key: str | None = None) -> dict[str, str]:
        """A fresh API key per request: only the rate-limit test spends one key's budget."""
        return {"authorization": f"Bearer {key or next(self.keys)}"}

    def shared_keys(self, pattern: str) -> list[bytes]:
        client = redis.Redis.from_url(self.redis.url)
        try:
            return list(client.scan_iter(match=pattern))
        finally:
            client.close()


@pytest.fixture(scope="module")
def cluster(upstream_server: ScriptedUpstream, tmp_path_factory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    redis_server, postgres = RedisServer().start(), PostgresServer().start()
    env = {
        "LLM_BASE_URL": upstream_server.url,
        "LLM_MODEL": "scripted-model",
        "LLM_MAX_RETRIES": "0",
        "LLM_STRUCTURED_OUTPUT": "json_schema",
        "DENSE_RETRIEVAL": "0",
        "DEGRADED_MODE": "0",
        "DATABASE_URL": postgres.url(),
        "REDIS_URL": redis_server.url,
        "SINGLE_FLIGHT_LEASE": str(LEASE_S),
        "API_KEYS": ",".join(KEYS),
        "RATE_LIMIT": f"{RATE}/minute",
    }
    cluster = Cluster(redis_server, postgres, env, workdir)
    cluster.ports = [free_port() for _ in range(3)]
    cluster.processes = [None, None, None]  # type: ignore[list-item]
    try:
        for i in range(3):
            cluster.start(i)
        yield cluster
    finally:
        for process in cluster.processes:
            if process is not None and process.poll() is None:
                stop(process)
        redis_server.cleanup()
        postgres.cleanup()


async def _store(client: httpx.AsyncClient, base: str, cluster: Cluster, text: str) -> str:
    created = await client.post(
        f"{base}/v1/documents", json={"text": text}, headers=cluster.headers()
    )
    assert created.status_code in (200, 201), created.text
    return str(created.json()["id"])


async def _ask(
    client: httpx.AsyncClient, base: str, cluster: Cluster, doc_id: str, question: str
) -> httpx.Response:
    return await client.post(
        f"{base}/v1/documents/{doc_id}/answers",
        json={"question": question},
        headers=cluster.headers(),
    )


async def test_identical_requests_spread_over_replicas_make_one_model_call(
    cluster, upstream, sample_article
):
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17}, delay_s=1.0)
    async with httpx.AsyncClient(timeout=60) as client:
        doc_id = await _store(client, cluster.bases[0], cluster, sample_article)
        question = "Who speaks for the Kremlin? (single-flight)"
        responses = await asyncio.gather(
            *(_ask(client, cluster.bases[i % 3], cluster, doc_id, question) for i in range(12))
        )
    assert [r.status_code for r in responses] == [200] * 12
    assert upstream.calls == 1
    assert sum(not r.json()["cached"] for r in responses) == 1
    assert len({r.json()["answer"] for r in responses}) == 1


async def test_a_document_lives_and_dies_on_every_replica_at_once(
    cluster, upstream, sample_article
):
    upstream.default = ANSWER
    a, b, c = cluster.bases
    text = sample_article + "\n\nThis copy belongs to the lifecycle test."
    question = "Who is the Kremlin spokesperson? (lifecycle)"
    async with httpx.AsyncClient(timeout=60) as client:
        doc_id = await _store(client, a, cluster, text)
        read = await client.get(f"{b}/v1/documents/{doc_id}", headers=cluster.headers())
        assert read.status_code == 200 and read.json()["text"] == text
        first = await _ask(client, c, cluster, doc_id, question)
        again = await _ask(client, a, cluster, doc_id, question)
        assert first.status_code == again.status_code == 200
        assert (first.json()["cached"], again.json()["cached"]) == (False, True)
        assert cluster.shared_keys(f"gs:result:{doc_id}|*")

        deleted = await client.delete(f"{b}/v1/documents/{doc_id}", headers=cluster.headers())
        assert deleted.status_code == 204
        assert cluster.shared_keys(f"gs:result:{doc_id}|*") == []
        for base in cluster.bases:
            # The deleting replica at once; the others when the NOTIFY reaches them.
            with anyio.fail_after(30):
                while (
                    await client.get(f"{base}/v1/documents/{doc_id}", headers=cluster.headers())
                ).status_code != 404:
                    await asyncio.sleep(0.05)
            gone = await _ask(client, base, cluster, doc_id, question)
            assert_problem(gone, 404, "document-not-found")

        # Stored again, the same text makes a new model call: no result survived.
        assert await _store(client, c, cluster, text) == doc_id
        fresh = await _ask(client, b, cluster, doc_id, question)
        assert fresh.status_code == 200 and fresh.json()["cached"] is False
    assert upstream.calls == 2


async def test_a_rate_limit_admits_exactly_its_amount_across_replicas(cluster, upstream):
    key = KEYS[0]  # this test's alone
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.get(
                    f"{cluster.bases[i % 3]}/v1/documents/{'0' * 64}",
                    headers=cluster.headers(key),
                )
                for i in range(3 * RATE)
            )
        )
    codes = [r.status_code for r in responses]
    assert codes.count(404) == RATE and codes.count(429) == 2 * RATE, codes


async def test_killing_the_lease_holder_mid_call_lets_a_waiter_finish(
    cluster, upstream, sample_article
):
    # The first call never finishes (its replica dies); the next one answers.
    upstream.enqueue(json_reply({"answer": "Dmitry Peskov", "sentence": 17}, delay_s=15))
    upstream.default = ANSWER
    a, b, c = cluster.bases
    question = "Who is the Kremlin spokesperson? (crash)"
    async with httpx.AsyncClient(timeout=60) as client:
        doc_id = await _store(client, a, cluster, sample_article)
        leader = asyncio.ensure_future(_ask(client, a, cluster, doc_id, question))
        with anyio.fail_after(30):
            while upstream.calls == 0:
                await asyncio.sleep(0.02)
        waiters = [
            asyncio.ensure_future(_ask(client, base, cluster, doc_id, question))
            for base in (b, c, b)
        ]
        await asyncio.sleep(0.3)
        assert cluster.shared_keys("gs:lock:*")  # held by the first replica
        os.kill(cluster.processes[0].pid, signal.SIGKILL)
        cluster.processes[0].wait(timeout=10)
        with pytest.raises(httpx.HTTPError):
            await leader
        answers = await asyncio.gather(*waiters)
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert upstream.calls == 2  # the dead one's, and one more for all three waiters
    assert cluster.shared_keys("gs:lock:*") == []
    cluster.start(0)


async def test_redis_and_postgres_stopping_mid_run_never_give_a_500_or_lose_a_document(
    cluster, upstream, sample_article
):
    upstream.default = ANSWER
    a, b, c = cluster.bases
    acknowledged: list[str] = []
    async with httpx.AsyncClient(timeout=60) as client:
        acknowledged.append(await _store(client, a, cluster, "Before. Stored before any outage."))

        # Redis away (REDIS_UNAVAILABLE=local): each replica carries on by itself.
        cluster.redis.stop()
        acknowledged.append(await _store(client, b, cluster, "During. Stored without Redis."))
        answer = await _ask(client, c, cluster, acknowledged[0], "What was stored? (no redis)")
        assert answer.status_code == 200, answer.text
        cluster.redis.start()
        await asyncio.sleep(1.5)  # past each replica's one-second pause after a failure
        shared = [
            await _ask(client, base, cluster, acknowledged[0], "What was stored? (redis back)")
            for base in (a, b)
        ]
        assert [r.json()["cached"] for r in shared] == [False, True]  # shared again

        # PostgreSQL away: writes and uncached reads are 503 problems.
        cluster.postgres.stop()
        refused = await client.post(
            f"{c}/v1/documents",
            json={"text": "Refused. Not acknowledged."},
            headers=cluster.headers(),
        )
        assert_problem(refused, 503, "storage-unavailable")
        assert "retry-after" in refused.headers
        cluster.postgres.start()
        acknowledged.append(await _store(client, c, cluster, "After. Stored once it was back."))
        for doc_id in acknowledged:
            for base in cluster.bases:
                read = await client.get(f"{base}/v1/documents/{doc_id}", headers=cluster.headers())
                assert read.status_code == 200, (base, read.text)
