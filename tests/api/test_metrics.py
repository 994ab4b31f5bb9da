"""GET /metrics: the Prometheus text format, parsed with prometheus-client's own parser,
and every count moving as what it counts happens (issue #13)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from service.app import create_app
from tests.api.helpers import api_client, store
from tests.fakes.upstream import Reply, json_reply
from tests.metrics_scrape import Scrape

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ANSWER = json_reply({"answer": "Dmitry Peskov", "sentence": 17})


async def scrape(client) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200
    content_type = response.headers["content-type"]
    assert content_type.startswith("text/plain; version=") and content_type.count("charset") == 1
    return Scrape(response.text)


async def test_requests_are_counted_by_route_template_never_by_raw_path(client, sample_article):
    before = await scrape(client)
    document = await store(client, sample_article)  # POST, then GET of the stored id
    for n in range(3):
        await client.get(f"/v1/documents/doc_missing{n}")
    await client.get("/nowhere/at/all")
    after = await scrape(client)
    read = {"route": "/v1/documents/{document_id}", "method": "GET"}
    assert after.value("grounded_http_requests_total", **read, status="200") == (
        before.value("grounded_http_requests_total", **read, status="200") + 1
    )
    assert after.value("grounded_http_requests_total", **read, status="404") == (
        before.value("grounded_http_requests_total", **read, status="404") + 3
    )
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert after.value("grounded_http_requests_total", **unmatched) == (
        before.value("grounded_http_requests_total", **unmatched) + 1
    )
    assert after.value("grounded_http_request_duration_seconds_count", **read) >= 4
    # Bounded labels: no document id (or any raw path) ever becomes a label value.
    for labels in after.series("grounded_http_requests_total"):
        assert document["id"] not in labels["route"] and "missing" not in labels["route"]
    assert after.value("grounded_documents_stored_total") == (
        before.value("grounded_documents_stored_total") + 1
    )


async def test_model_calls_tokens_and_the_result_cache(client, upstream, sample_article):
    document = await store(client, sample_article)
    url = f"/v1/documents/{document['id']}/answers"
    upstream.enqueue(Reply(content="not JSON"), ANSWER)  # answer, then its re-ask
    before = await scrape(client)
    first = await client.post(url, json={"question": "Who is the spokesperson?"})
    again = await client.post(url, json={"question": "Who is the spokesperson?"})
    assert first.status_code == again.status_code == 200 and again.json()["cached"]
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("grounded_model_calls_total", kind="answer", outcome="ok") == 1
    assert moved("grounded_model_calls_total", kind="reask", outcome="ok") == 1
    assert moved("grounded_model_call_duration_seconds_count", kind="answer", outcome="ok") == 1
    # The scripted upstream reports 11 prompt and 7 completion tokens per call.
    assert moved("grounded_model_tokens_total", kind="answer", type="prompt") == 11
    assert moved("grounded_model_tokens_total", kind="reask", type="completion") == 7
    assert moved("grounded_result_cache_lookups_total", use="answer", result="miss") == 1
    assert moved("grounded_result_cache_lookups_total", use="answer", result="hit") == 1


async def test_streamed_calls_report_time_to_first_token(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(ANSWER)
    before = await scrape(client)
    await client.post(
        f"/v1/documents/{document['id']}/answers",
        json={"question": "Who spoke for the Kremlin?"},
        headers={"accept": "text/event-stream"},
    )
    after = await scrape(client)
    name = "grounded_model_time_to_first_token_seconds_count"
    assert after.value(name, kind="answer") == before.value(name, kind="answer") + 1


async def test_identical_concurrent_requests_count_as_single_flight_joins(
    client, upstream, sample_article
):
    document = await store(client, sample_article)
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17}, delay_s=0.3)
    before = await scrape(client)
    url = f"/v1/documents/{document['id']}/answers"
    answers = await asyncio.gather(
        *(client.post(url, json={"question": "Who warned NATO?"}) for _ in range(3))
    )
    assert [a.status_code for a in answers] == [200] * 3 and upstream.calls == 1
    after = await scrape(client)
    joins = "grounded_single_flight_joins_total"
    assert after.value(joins, use="answer") - before.value(joins, use="answer") == 2


async def test_429s_are_counted_by_reason(settings, upstream, sample_article):
    limited = replace(settings, rate_limit="2/minute", max_pending_requests=1)
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17}, delay_s=0.3)
    async with api_client(create_app(limited)) as client:
        before = await scrape(client)
        document = await store(client, sample_article)  # 2 of the 2 requests a minute...
        url = f"/v1/documents/{document['id']}/answers"
        over = await client.post(url, json={"question": "Who?"})  # ...so this is refused
        after = await scrape(client)
    assert over.status_code == 429
    name = "grounded_throttled_requests_total"
    assert after.value(name, reason="rate-limited") - before.value(name, reason="rate-limited") == 1

    busy = replace(settings, max_pending_requests=1)
    async with api_client(create_app(busy)) as client:
        document = await store(client, sample_article)
        url = f"/v1/documents/{document['id']}/answers"
        before = await scrape(client)
        first = asyncio.create_task(client.post(url, json={"question": "Who warned?"}))
        await asyncio.sleep(0.1)  # the first one waits for the model
        second = await client.post(url, json={"question": "Who else?"})
        await first
        after = await scrape(client)
    assert second.status_code == 429
    assert after.value(name, reason="overloaded") - before.value(name, reason="overloaded") == 1


async def test_degraded_results_and_the_open_circuit(settings, upstream, sample_article):
    failing = replace(settings, degraded_mode=True, llm_breaker_failures=1)
    upstream.default = Reply(status=503)
    async with api_client(create_app(failing)) as client:
        before = await scrape(client)
        assert before.value("grounded_circuit_breaker_state") == 0
        document = await store(client, sample_article)
        url = f"/v1/documents/{document['id']}/answers"
        answered = await client.post(url, json={"question": "Who is the spokesperson?"})
        refused = await client.post(url, json={"question": "Who warned NATO?"})
        after = await scrape(client)
    assert answered.json()["degraded"] and refused.json()["degraded"]

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("grounded_degraded_results_total", use="answer") == 2
    assert moved("grounded_model_calls_total", kind="answer", outcome="unavailable") == 1
    # The breaker opened after that failure: the next call never reached the model.
    assert moved("grounded_model_calls_total", kind="answer", outcome="circuit_open") == 1
    assert after.value("grounded_circuit_breaker_state") == 2


async def test_summary_map_and_reduce_calls_are_told_apart(client, upstream, shared_data):
    article = json.loads(
        (shared_data / "squad2_dev_articles.jsonl").read_text("utf-8").splitlines()[0]
    )
    document = await store(client, article["text"])
    upstream.default = json_reply(
        {"sentences": [{"text": "The Normans gave their name to Normandy.", "sources": [1]}]}
    )
    before = await scrape(client)
    response = await client.post(f"/v1/documents/{document['id']}/summary", json={})
    assert response.status_code == 200
    after = await scrape(client)
    name = "grounded_model_calls_total"
    mapped = after.value(name, kind="summary_map", outcome="ok") - before.value(
        name, kind="summary_map", outcome="ok"
    )
    reduced = after.value(name, kind="summary_reduce", outcome="ok") - before.value(
        name, kind="summary_reduce", outcome="ok"
    )
    assert mapped >= 2 and reduced == 1 and mapped + reduced == upstream.calls


async def test_readiness_pings_are_counted_as_probes_and_deletes_as_deletes(client, sample_article):
    before = await scrape(client)
    assert (await client.get("/readyz")).status_code == 200  # no call yet: it pings
    document = await store(client, sample_article)
    assert (await client.delete(f"/v1/documents/{document['id']}")).status_code == 204
    after = await scrape(client)
    probes = ("grounded_model_calls_total", {"kind": "probe", "outcome": "ok"})
    assert after.value(probes[0], **probes[1]) == before.value(probes[0], **probes[1]) + 1
    deleted = "grounded_documents_deleted_total"
    assert after.value(deleted) == before.value(deleted) + 1


async def test_metrics_off_means_no_endpoint_and_no_request_counting(settings):
    async with api_client(create_app(settings)) as on:
        before = await scrape(on)
    async with api_client(create_app(replace(settings, metrics=False))) as off:
        assert (await off.get("/metrics")).status_code == 404
        for _ in range(3):
            await off.get("/healthz")
    async with api_client(create_app(settings)) as on:
        after = await scrape(on)
    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    assert after.value("grounded_http_requests_total", **labels) == before.value(
        "grounded_http_requests_total", **labels
    )


WORKER = """
import sys
from service.observability import metrics
metrics.DOCUMENTS_STORED.inc(int(sys.argv[1]))
metrics.HTTP_REQUESTS.labels("/healthz", "GET", "200").inc()
"""
SCRAPER = """
import sys
from pathlib import Path
from service.observability.metrics import exposition
sys.stdout.write(exposition(Path(sys.argv[1])).decode())
"""


def test_worker_processes_sum_up_in_multiprocess_mode(tmp_path):
    # Under several workers each process counts in its own files in the directory, and a
    # scrape of any one of them reports the sum (prometheus-client's multi-process mode).
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def python(code: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    python(WORKER, "2")
    python(WORKER, "3")
    scraped = Scrape(python(SCRAPER, str(tmp_path)))
    assert scraped.value("grounded_documents_stored_total") == 5
    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    assert scraped.value("grounded_http_requests_total", **labels) == 2
