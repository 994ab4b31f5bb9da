"""Model down: degraded extractive answers (marked), a circuit breaker, recovery."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from service.app import create_app
from service.llm.breaker import CircuitBreaker
from tests.api.helpers import api_client, sentence_with, store
from tests.citations import assert_valid_citations
from tests.fakes.upstream import Reply, json_reply


@pytest.fixture
async def degraded_client(settings):
    on = replace(settings, degraded_mode=True, llm_breaker_failures=2, llm_breaker_reset_s=0.3)
    async with api_client(create_app(on)) as client:
        yield client


async def test_answer_falls_back_to_the_best_sentence_marked_degraded(
    degraded_client, upstream, sample_article
):
    document = await store(degraded_client, sample_article)
    upstream.enqueue(Reply(status=503))
    response = await degraded_client.post(
        f"/v1/documents/{document['id']}/answers",
        json={"question": "Who is the Kremlin spokesperson?"},
    )
    assert response.status_code == 200
    assert response.headers["x-degraded"] == "true"
    body = response.json()
    assert body["degraded"] is True and body["answerable"] is True
    assert body["citations"][0]["sentence"] == sentence_with(document, "Kremlin spokesperson")
    assert_valid_citations(sample_article, body)


async def test_degraded_summary_is_cited_lead_and_not_cached(
    degraded_client, upstream, sample_article
):
    document = await store(degraded_client, sample_article)
    url = f"/v1/documents/{document['id']}/summary"
    upstream.enqueue(Reply(status=500))
    first = await degraded_client.post(url, json={"length": "short"})
    assert first.headers["x-degraded"] == "true"
    assert [s["citations"][0]["sentence"] for s in first.json()["sentences"]] == [0, 1]
    assert_valid_citations(sample_article, first.json())
    # The model is back: the same request is answered by it, not from a cached fallback.
    upstream.enqueue(
        json_reply(
            {
                "sentences": [
                    {
                        "text": "Poland clarified that it would not send any troops to Ukraine.",
                        "sources": [1],
                    }
                ]
            }
        )
    )
    second = (await degraded_client.post(url, json={"length": "short"})).json()
    assert second["degraded"] is False and "Poland" in second["text"]


async def test_irrelevant_question_degrades_to_not_in_the_article(
    degraded_client, upstream, sample_article
):
    document = await store(degraded_client, sample_article)
    upstream.enqueue(Reply(status=502))
    body = (
        await degraded_client.post(
            f"/v1/documents/{document['id']}/answers",
            json={"question": "What is the recipe for paella?"},
        )
    ).json()
    assert body["degraded"] is True and body["answerable"] is False and body["citations"] == []


async def test_circuit_opens_after_repeated_failures_and_closes_on_recovery(
    degraded_client, upstream, sample_article
):
    document = await store(degraded_client, sample_article)
    url = f"/v1/documents/{document['id']}/answers"
    upstream.default = Reply(status=503)
    for i in range(2):
        await degraded_client.post(url, json={"question": f"Who spoke, part {i}?"})
    assert upstream.calls == 2
    # Open: the next requests are answered degraded without touching the upstream.
    for i in range(3):
        body = (await degraded_client.post(url, json={"question": f"Who warned, part {i}?"})).json()
        assert body["degraded"] is True
    assert upstream.calls == 2
    # After the reset period one trial call goes through; success closes the circuit.
    await asyncio.sleep(0.35)
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17})
    body = (
        await degraded_client.post(url, json={"question": "Who is the Kremlin spokesperson?"})
    ).json()
    assert body["degraded"] is False and body["answer"] == "Dmitry Peskov"
    assert upstream.calls == 3


def test_breaker_states_follow_the_clock():
    now = [0.0]
    breaker = CircuitBreaker(failures=2, reset_after_s=10, clock=lambda: now[0])
    breaker.failure()
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open"
    now[0] = 10.0
    assert breaker.state == "half-open"
    breaker.check()  # the trial call is let through ...
    assert breaker.state == "open"  # ... and the others wait for its outcome
    breaker.success()
    assert breaker.state == "closed"
