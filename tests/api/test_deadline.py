"""REQUEST_DEADLINE bounds everything a request spends on the model; retries honour
the upstream's Retry-After inside it."""

from __future__ import annotations

from dataclasses import replace

from service.app import create_app
from tests.api.helpers import api_client, assert_problem, store
from tests.citations import assert_valid_citations
from tests.fakes.upstream import Reply, json_reply

QUESTION = {"question": "Who is the Kremlin spokesperson?"}
GOOD = {"answer": "Dmitry Peskov", "sentence": 1}


async def ask(settings, sample_article, **changes):
    async with api_client(create_app(replace(settings, **changes))) as client:
        document = await store(client, sample_article)
        return await client.post(f"/v1/documents/{document['id']}/answers", json=QUESTION)


async def test_deadline_spans_calls_that_are_each_within_the_call_timeout(
    settings, upstream, sample_article
):
    # Each call takes 0.6 s (the per-call timeout is 5 s), but the unusable first
    # reply and its re-ask together take longer than the 1 s deadline.
    upstream.enqueue(Reply(content="Sorry.", delay_s=0.6), json_reply(GOOD, delay_s=0.6))
    response = await ask(settings, sample_article, request_deadline_s=1.0)
    assert_problem(response, 504, "model-timeout")
    assert "deadline (1 s)" in response.json()["detail"]
    assert upstream.calls == 2


async def test_deadline_passed_with_degraded_mode_answers_extractively(
    settings, upstream, sample_article
):
    upstream.enqueue(json_reply(GOOD, delay_s=3.0))
    response = await ask(settings, sample_article, request_deadline_s=0.5, degraded_mode=True)
    assert response.status_code == 200, response.text
    assert response.headers["x-degraded"] == "true"
    body = response.json()
    assert body["degraded"] is True
    assert_valid_citations(sample_article, body)


async def test_deadline_cuts_a_retry_the_upstream_asked_to_delay(
    settings, upstream, sample_article
):
    # The openai client would honour Retry-After: 30 and call again; the deadline
    # ends the request first.
    upstream.enqueue(Reply(status=503, headers={"Retry-After": "30"}))
    response = await ask(settings, sample_article, request_deadline_s=1.0, llm_max_retries=2)
    assert_problem(response, 504, "model-timeout")
    assert upstream.calls == 1


async def test_retry_waits_as_long_as_the_upstream_asks(settings, upstream, sample_article):
    upstream.enqueue(Reply(status=429, headers={"Retry-After": "1"}), json_reply(GOOD))
    response = await ask(settings, sample_article, llm_max_retries=1)
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "Dmitry Peskov"
    assert upstream.calls == 2
    assert upstream.arrivals[1] - upstream.arrivals[0] >= 0.95


async def test_no_deadline_when_set_to_zero(settings, upstream, sample_article):
    upstream.enqueue(json_reply(GOOD, delay_s=0.3))
    response = await ask(settings, sample_article, request_deadline_s=0.0)
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "Dmitry Peskov"
