"""How ingestion and long-document summaries scale with document size."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

from bench.common import rounded
from bench.corpus import text_of_size
from bench.inprocess import SUMMARY_REPLY, service_client, store_document
from service.settings import Settings
from service.text import segment
from tests.fakes.upstream import ScriptedUpstream, json_reply

INGEST_SIZES = {"10KB": 10_000, "100KB": 100_000, "1MB": 1_000_000, "10MB": 10_000_000}
SUMMARY_SIZES = {"100KB": 100_000, "1MB": 1_000_000}
UPSTREAM_DELAY_S = 0.05


def _ingest_one(label: str, size: int) -> dict[str, Any]:
    text = text_of_size(size)
    megabytes = len(text.encode("utf-8")) / 1e6
    # Fewer repeats for the big ones: they are long enough to be stable, and the whole
    # benchmark must stay within minutes.
    repeats = 5 if size <= 100_000 else 3 if size <= 1_000_000 else 1
    segment(text, 256, 32)  # warm-up (and the result we report counts of)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        segmentation = segment(text, 256, 32)
        times.append(time.perf_counter() - started)
    # Separately: tracemalloc slows allocation-heavy code, so it must not touch the timing.
    tracemalloc.start()
    segment(text, 256, 32)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    best = min(times)
    return {
        "size": label,
        "mb": rounded(megabytes),
        "tokens": segmentation.tokens,
        "sentences": len(segmentation.sentence_spans),
        "chunks": len(segmentation.chunks),
        "best_s": rounded(best, 4),
        "s_per_mb": rounded(best / megabytes, 4),
        "peak_mib": rounded(peak / 2**20, 1),
        "peak_bytes_per_text_byte": rounded(peak / (megabytes * 1e6), 1),
    }


def ingestion(quick: bool = False) -> list[dict[str, Any]]:
    sizes = {k: v for k, v in INGEST_SIZES.items() if not quick or v <= 100_000}
    return [_ingest_one(label, size) for label, size in sizes.items()]


async def summaries(upstream: ScriptedUpstream, quick: bool = False) -> list[dict[str, Any]]:
    """Map-reduce summary of big documents against an upstream that takes UPSTREAM_DELAY_S."""
    sizes = {k: v for k, v in SUMMARY_SIZES.items() if not quick or v <= 100_000}
    concurrency = Settings().llm_concurrency
    rows = []
    for label, size in sizes.items():
        upstream.reset()
        upstream.default = json_reply(SUMMARY_REPLY, delay_s=UPSTREAM_DELAY_S)
        async with service_client(upstream) as client:
            text = text_of_size(size)
            started = time.perf_counter()
            document = await store_document(client, text)
            stored = time.perf_counter() - started
            started = time.perf_counter()
            response = await client.post(
                f"/v1/documents/{document['id']}/summary", json={"length": "medium"}
            )
            wall = time.perf_counter() - started
        calls = upstream.calls
        rows.append(
            {
                "size": label,
                "status": response.status_code,
                "document_tokens": document["tokens"],
                "store_s": rounded(stored),
                "model_calls": calls,
                "upstream_delay_s": UPSTREAM_DELAY_S,
                "llm_concurrency": concurrency,
                "wall_s": rounded(wall),
                "calls_x_delay_s": rounded(calls * UPSTREAM_DELAY_S),
                # Lower bound with LLM_CONCURRENCY calls in flight: map waves, then the reduce.
                "ideal_s": rounded(
                    ((calls - 1 + concurrency - 1) // concurrency + 1) * UPSTREAM_DELAY_S
                ),
            }
        )
    return rows


async def run(upstream: ScriptedUpstream, quick: bool = False) -> dict[str, Any]:
    ingest_rows = ingestion(quick)
    per_mb = [r["s_per_mb"] for r in ingest_rows if r["mb"] >= 0.1]
    return {
        "ingestion": ingest_rows,
        # ~1 when ingestion is linear: slowest over fastest time per MB from 100 KB up
        # (10 KB is dominated by fixed costs).
        "ingest_s_per_mb_spread": rounded(max(per_mb) / min(per_mb)) if per_mb else None,
        "summaries": await summaries(upstream, quick),
    }
