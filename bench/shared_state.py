"""Shared state (issue #14): what PostgreSQL + Redis add to a request over the embedded
mode, cache-hit throughput through HAProxy over 3 replicas against 1 replica direct, and
how exact single-flight and rate limits are across replicas. Real servers, started here;
figures only, no bars (timings never gate)."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import tempfile
import time
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench.common import rounded, sample_article
from bench.inprocess import ANSWER_REPLY, service_client, store_document
from bench.load import run_load
from bench.processes import service_process
from tests.fakes.upstream import ScriptedUpstream, json_reply
from tests.servers import PostgresServer, RedisServer
from tests.service_process import free_port

QUESTION = "What did Kremlin spokesperson Dmitry Peskov warn about?"
REPLICAS = 3
RATE = 20


async def _new_question_ms(
    upstream: ScriptedUpstream, n: int, shared: dict[str, Any]
) -> tuple[float, float, float]:
    """Median ms of answers to new questions (each makes a model call: the path that
    touches Redis most: rate limit, claim, finish), c=1, embedded and shared modes
    alternating request by request so that load from elsewhere hits both alike.
    Returns (embedded p50, shared p50, median of the paired differences)."""
    upstream.default = json_reply(ANSWER_REPLY)
    common = {"rate_limit": "1000000/minute", "dense_retrieval": False}
    async with AsyncExitStack() as stack:
        embedded = await stack.enter_async_context(service_client(upstream, **common))
        sharing = await stack.enter_async_context(service_client(upstream, **common, **shared))
        urls = []
        for client in (embedded, sharing):
            document = await store_document(client, sample_article())
            urls.append(f"/v1/documents/{document['id']}/answers")
        times: tuple[list[float], list[float]] = ([], [])
        for i in range(n + 10):
            for side, client in enumerate((embedded, sharing)):
                started = time.perf_counter()
                response = await client.post(urls[side], json={"question": f"{QUESTION} #{i}"})
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text}")
                if i >= 10:  # warm-up: connections, first index build
                    times[side].append(time.perf_counter() - started)
    added = statistics.median(b - a for a, b in zip(*times, strict=True))
    return (
        statistics.median(times[0]) * 1000,
        statistics.median(times[1]) * 1000,
        added * 1000,
    )


async def _single_flight(upstream: ScriptedUpstream, bases: list[str], doc_id: str) -> int:
    """Upstream calls made by 30 identical concurrent requests spread over the replicas."""
    upstream.default = json_reply(ANSWER_REPLY, delay_s=0.5)
    before = upstream.calls
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{bases[i % len(bases)]}/v1/documents/{doc_id}/answers",
                    json={"question": f"{QUESTION} (single-flight)"},
                )
                for i in range(30)
            )
        )
    if any(r.status_code != 200 for r in responses):
        raise RuntimeError("single-flight requests failed")
    return upstream.calls - before


async def _rate_limit_admitted(upstream: ScriptedUpstream, redis_url: str) -> int:
    """Requests admitted out of 3 x RATE by 3 app instances sharing Redis."""
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                service_client(upstream, redis_url=redis_url, rate_limit=f"{RATE}/minute")
            )
            for _ in range(REPLICAS)
        ]
        responses = await asyncio.gather(
            *(clients[i % REPLICAS].get(f"/v1/documents/{'0' * 64}") for i in range(3 * RATE))
        )
    return sum(r.status_code != 429 for r in responses)


def _haproxy(workdir: Path, bases: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    servers = "".join(
        f"    server r{i} {base.removeprefix('http://')} check\n"
        f"    server r{i}-unchecked {base.removeprefix('http://')} backup\n"
        for i, base in enumerate(bases)
    )
    template = (Path(__file__).resolve().parents[1] / "ops" / "haproxy.cfg.in").read_text()
    config = workdir / "haproxy.cfg"
    config.write_text(template.replace("@FRONT_PORT@", str(port)).replace("@SERVERS@\n", servers))
    process = subprocess.Popen(
        ["haproxy", "-f", str(config), "-db"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("haproxy did not start")


def run(upstream: ScriptedUpstream, quick: bool, duration_s: float, tool: str) -> dict[str, Any]:
    upstream.reset()
    n = 50 if quick else 300
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        redis, postgres = RedisServer().start(), PostgresServer().start()
        stack.callback(redis.cleanup)
        stack.callback(postgres.cleanup)
        embedded_ms, shared_ms, added_ms = asyncio.run(
            _new_question_ms(
                upstream,
                n,
                {"database_url": postgres.create_database("bench_latency"), "redis_url": redis.url},
            )
        )
        admitted = asyncio.run(_rate_limit_admitted(upstream, redis.url))

        env = {
            "LLM_MODEL": "scripted",
            "LLM_MAX_RETRIES": "0",
            "DENSE_RETRIEVAL": "0",
            "DATABASE_URL": postgres.create_database("bench_cluster"),
            "REDIS_URL": redis.url,
        }
        servers = []
        for i in range(REPLICAS):
            workdir = Path(tmp) / f"replica{i}"
            workdir.mkdir()
            servers.append(stack.enter_context(service_process(upstream.url, workdir, env)))
        bases = [s.base for s in servers]
        upstream.default = json_reply(ANSWER_REPLY)
        stored = httpx.post(f"{bases[0]}/v1/documents", json={"text": sample_article()}, timeout=60)
        doc_id = stored.json()["id"]
        calls = asyncio.run(_single_flight(upstream, bases, doc_id))
        proxy, front = _haproxy(Path(tmp), bases)
        stack.callback(proxy.terminate)
        path = f"/v1/documents/{doc_id}/answers"
        for base in bases:  # every replica holds the cached answer in memory
            httpx.post(base + path, json={"question": QUESTION}, timeout=60)
        duration = 1.0 if quick else duration_s
        direct = run_load(bases[0] + path, QUESTION, 32, duration, "d", vary=False, tool=tool)
        proxied = run_load(front + path, QUESTION, 32, duration, "p", vary=False, tool=tool)
    return {
        "new_question_p50_ms_embedded": rounded(embedded_ms),
        "new_question_p50_ms_shared": rounded(shared_ms),
        "shared_added_ms_p50": rounded(added_ms),
        "shared_latency_ratio": rounded(shared_ms / embedded_ms),
        "cache_hit_rps_1_direct": rounded(direct.rps, 1),
        "cache_hit_rps_3_haproxy": rounded(proxied.rps, 1),
        "cache_hit_rps_ratio_3_haproxy_to_1": rounded(proxied.rps / direct.rps),
        "cache_hit_errors": direct.errors + proxied.errors,
        "cross_replica_singleflight_calls": calls,
        "cross_replica_rate_limit_admitted": admitted,
        "rate_limit": f"{RATE}/minute, {3 * RATE} requests over {REPLICAS} instances",
        "load_tool": tool,
    }
