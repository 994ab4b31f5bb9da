"""Repeated work: identical requests must reach the model once, whether they come one after the
other (result cache) or all at once (single-flight)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.common import sample_article
from bench.inprocess import ANSWER_REPLY, SUMMARY_REPLY, service_client, store_document
from tests.fakes.upstream import ScriptedUpstream, json_reply

CONCURRENT = 50
DELAY_S = 0.2


async def _measure(
    client: Any,
    upstream: ScriptedUpstream,
    url: str,
    payload: dict[str, Any],
    bodies: tuple[dict[str, Any], dict[str, Any]],
) -> dict[str, Any]:
    """Two sequential identical requests, then CONCURRENT identical ones with a slow upstream."""
    sequential, concurrent = bodies
    upstream.default = json_reply(payload)
    before = upstream.calls
    first = await client.post(url, json=sequential)
    after_first = upstream.calls
    second = await client.post(url, json=sequential)
    after_second = upstream.calls

    # Slow enough that all CONCURRENT requests arrive while the first is still in flight.
    upstream.default = json_reply(payload, delay_s=DELAY_S)
    before_burst = upstream.calls
    started = time.perf_counter()
    responses = await asyncio.gather(
        *(client.post(url, json=concurrent) for _ in range(CONCURRENT))
    )
    wall = time.perf_counter() - started
    return {
        "statuses_ok": first.status_code == second.status_code == 200
        and all(r.status_code == 200 for r in responses),
        "upstream_calls_for_two": after_second - before,
        "upstream_calls_by_repeat": after_second - after_first,
        "repeat_marked_cached": bool(second.json().get("cached")),
        "concurrent_requests": CONCURRENT,
        "upstream_delay_s": DELAY_S,
        "singleflight_upstream_calls": upstream.calls - before_burst,
        "singleflight_uncached_responses": sum(not r.json().get("cached") for r in responses),
        "singleflight_wall_s": round(wall, 3),
    }


async def run(upstream: ScriptedUpstream) -> dict[str, Any]:
    upstream.reset()
    results: dict[str, Any] = {}
    async with service_client(upstream) as client:
        document = await store_document(client, sample_article())
        base = f"/v1/documents/{document['id']}"
        for kind, payload, bodies in (
            (
                "answers",
                ANSWER_REPLY,
                (
                    {"question": "Who is the Kremlin spokesperson?"},
                    {"question": "What did Dmitry Peskov warn about?"},
                ),
            ),
            ("summaries", SUMMARY_REPLY, ({"length": "short"}, {"length": "medium"})),
        ):
            url = f"{base}/answers" if kind == "answers" else f"{base}/summary"
            results[kind] = await _measure(client, upstream, url, payload, bodies)
    return {
        "repeat_upstream_calls": results["answers"]["upstream_calls_for_two"],
        "repeat_extra_upstream_calls": results["answers"]["upstream_calls_by_repeat"],
        "singleflight_upstream_calls": results["answers"]["singleflight_upstream_calls"],
        "summary_repeat_upstream_calls": results["summaries"]["upstream_calls_for_two"],
        "summary_singleflight_upstream_calls": results["summaries"]["singleflight_upstream_calls"],
        **results,
    }
