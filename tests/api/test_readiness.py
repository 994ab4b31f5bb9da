"""/readyz tells whether this replica can serve, from what its model calls do."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

from service.app import create_app
from service.llm.breaker import BROKEN_AFTER, BreakerLLM, CircuitBreaker
from tests.api.helpers import api_client, assert_problem, store
from tests.fakes.llm import FakeLLM, reply_json
from tests.fakes.upstream import Reply, ScriptedUpstream, json_reply


async def test_an_endpoint_that_refuses_every_request_makes_the_replica_unready(
    client, upstream, sample_article
):
    document = await store(client, sample_article)
    url = f"/v1/documents/{document['id']}/answers"
    upstream.default = Reply(status=400)
    assert (await client.get("/readyz")).status_code == 200  # /models still answers
    for i in range(BROKEN_AFTER):
        assert_problem(await client.post(url, json={"question": f"Who spoke ({i})?"}), 502)
    assert_problem(await client.get("/readyz"), 503, "model-unavailable")
    # One call that works makes it ready again.
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17})
    assert (await client.post(url, json={"question": "Who is Peskov?"})).status_code == 200
    assert (await client.get("/readyz")).status_code == 200


class _Buggy(FakeLLM):
    async def complete(self, *args, **kwargs):  # type: ignore[override]
        raise IndexError("list index out of range")


@pytest.mark.injects_a_bug
async def test_a_model_path_that_fails_with_a_bug_is_not_ready(settings, sample_article):
    # Issue #17: a fresh instance whose model calls all died with IndexError said ready.
    llm = BreakerLLM(_Buggy(), CircuitBreaker(5, 30))
    async with api_client(create_app(settings, llm=llm)) as client:
        assert (await client.get("/readyz")).status_code == 200
        for i in range(BROKEN_AFTER):
            response = await client.post(
                "/v1/ask", json={"text": sample_article, "question": f"Who? {i}"}
            )
            assert_problem(response, 500)
        assert_problem(await client.get("/readyz"), 503)


async def test_a_recent_successful_call_is_enough_even_if_a_ping_would_wait(
    settings, sample_article
):
    # A one-at-a-time model server answers pings only between generations; a busy
    # server that just answered is ready.
    fake = FakeLLM()
    fake.default = reply_json({"answer": "Dmitry Peskov", "sentence": 17})
    fake.reachable = False  # what a ping stuck behind a long generation would report
    async with api_client(
        create_app(settings, llm=BreakerLLM(fake, CircuitBreaker(5, 30)))
    ) as client:
        assert_problem(await client.get("/readyz"), 503)
        answer = await client.post("/v1/ask", json={"text": sample_article, "question": "Who?"})
        assert answer.status_code == 200
        assert (await client.get("/readyz")).status_code == 200


async def test_an_open_circuit_is_not_ready(settings, upstream, sample_article):
    failing = replace(settings, llm_breaker_failures=2, llm_breaker_reset_s=30)
    upstream.default = Reply(status=503)
    async with api_client(create_app(failing)) as client:
        document = await store(client, sample_article)
        for i in range(2):
            await client.post(
                f"/v1/documents/{document['id']}/answers", json={"question": f"Q{i}?"}
            )
        await asyncio.sleep(0)
        assert_problem(await client.get("/readyz"), 503)


async def test_a_busy_model_stays_ready_and_a_vanished_one_is_not(settings, sample_article):
    # Issue #13: /readyz said 503 whenever the one-at-a-time model server was busy
    # generating (its /models waited behind the generation), pulling a working replica
    # out of rotation. Busy is ready; an endpoint that refuses connections is not.
    model = ScriptedUpstream()
    model.one_at_a_time = True
    model.start()
    generating = threading.Event()
    try:
        async with api_client(create_app(replace(settings, llm_base_url=model.url))) as client:
            model.enqueue(json_reply({"answer": "Dmitry Peskov", "sentence": 17}, hold=generating))
            answering = asyncio.create_task(
                client.post("/v1/ask", json={"text": sample_article, "question": "Who spoke?"})
            )
            while model.calls == 0:  # the generation has started, and holds the model
                await asyncio.sleep(0.01)
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert "in flight" in ready.json()["checks"]["model"]["detail"]
            assert not answering.done()  # the check really ran while the model was busy

            generating.set()
            assert (await answering).status_code == 200
            model.stop()  # the model process is gone, just after a successful call
            gone = await client.get("/readyz")
            assert_problem(gone, 503, "model-unavailable")
            assert gone.json()["failed"] == ["model"]
    finally:
        generating.set()
        model.stop()
