"""Load: 2,000 requests at concurrency 64 on loopback finish with no unexpected error
and bounded memory (the real service process, the scripted upstream as the model)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import json_reply
from tests.service_process import free_port, start_service, stop, wait_ready

pytestmark = pytest.mark.e2e

REQUESTS = 2_000
CONCURRENCY = 64


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_two_thousand_requests_at_concurrency_64(upstream, sample_article, tmp_path):
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17})
    port = free_port()
    log = tmp_path / "service.log"
    process = start_service(
        tmp_path / "docs.sqlite3",
        port,
        {
            "LLM_BASE_URL": upstream.url,
            "LLM_MODEL": "scripted",
            "LLM_MAX_RETRIES": "0",
            "MAX_PENDING_REQUESTS": "128",
        },
        log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_ready, base, process, log)
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
            doc_id = (await http.post("/v1/documents", json={"text": sample_article})).json()["id"]
            statuses: dict[int, int] = {}
            semaphore = asyncio.Semaphore(CONCURRENCY)

            async def one(i: int) -> None:
                # A third repeat a question (cache and single-flight), the rest are new.
                question = f"Who is the Kremlin spokesperson? ({i % 700})"
                async with semaphore:
                    response = await http.post(
                        f"/v1/documents/{doc_id}/answers", json={"question": question}
                    )
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            await asyncio.gather(*(one(i) for i in range(200)))  # warm up
            warm_rss = rss_mib(process.pid)
            statuses.clear()
            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(REQUESTS)))
            elapsed = time.monotonic() - started
            final_rss = rss_mib(process.pid)
        print(
            f"\n{REQUESTS} requests in {elapsed:.1f} s ({REQUESTS / elapsed:.0f}/s), "
            f"RSS {warm_rss:.0f} -> {final_rss:.0f} MiB, statuses {statuses}"
        )
        assert statuses == {200: REQUESTS}
        assert upstream.calls <= 700 + 200  # repeats were served from cache
        # Bounded: the result cache and index are capped, nothing grows per request.
        assert final_rss - warm_rss < 100, (warm_rss, final_rss)
    finally:
        stop(process)
