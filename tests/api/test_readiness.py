"""/readyz tells whether this replica can serve, from what its model calls do."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from dataclasses import replace

import httpx
import pytest

from service.api.health import CHECK_TIMEOUT_S
from service.app import create_app
from service.llm.breaker import BROKEN_AFTER, BreakerLLM, CircuitBreaker
from tests.api.helpers import api_client, assert_problem, store
from tests.fakes.llm import FakeLLM, reply_json
from tests.fakes.upstream import Reply, ScriptedUpstream, json_reply
from tests.servers import PostgresServer, RedisServer


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


# -- PostgreSQL and Redis (issue #14): real servers, stopped and hung under the replica --


def _signal_all(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal a server and every process it started (PostgreSQL's backends answer the
    pooled connections, so stopping the postmaster alone would hang nothing)."""
    children = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    for pid in [process.pid, *map(int, children)]:
        os.kill(pid, sig)


async def _timed_readyz(client: httpx.AsyncClient) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get("/readyz")
    return response, time.monotonic() - started


async def test_postgres_up_stopped_hung_and_back_is_ready_unready_and_ready_again(settings):
    server = PostgresServer().start()
    try:
        # Trust authentication ignores the password, which must never show in the body.
        url = server.create_database("readiness").replace("postgres@", "postgres:sekrit@")
        async with api_client(create_app(replace(settings, database_url=url))) as client:
            up = await client.get("/readyz")
            assert up.status_code == 200, up.text
            assert up.json()["checks"]["store"] == {"ok": True, "detail": "PostgreSQL answers"}

            server.stop()
            down = await client.get("/readyz")
            assert_problem(down, 503, "store-unavailable")
            assert down.json()["failed"] == ["store"]
            assert "PostgreSQL does not answer" in down.json()["checks"]["store"]["detail"]

            server.start()
            back = await client.get("/readyz")  # the pool's dead connections replaced
            assert back.status_code == 200, back.text

            assert server.process is not None
            _signal_all(server.process, signal.SIGSTOP)
            try:
                hung, took = await _timed_readyz(client)
            finally:
                _signal_all(server.process, signal.SIGCONT)
            assert_problem(hung, 503, "store-unavailable")
            assert hung.json()["checks"]["store"]["detail"] == (
                f"the store gave no answer within {CHECK_TIMEOUT_S:g} s"
            )
            assert took < CHECK_TIMEOUT_S + 1.0, took
            for response in (up, down, back, hung):
                assert "sekrit" not in response.text
            for _ in range(50):  # the abandoned check's connection is replaced
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/readyz")).status_code == 200
    finally:
        server.cleanup()


@pytest.mark.parametrize("policy", ["local", "refuse"])
async def test_redis_up_stopped_hung_and_back_follows_redis_unavailable(settings, policy):
    server = RedisServer().start()
    try:
        shared = replace(settings, redis_url=server.url, redis_unavailable=policy)
        async with api_client(create_app(shared)) as client:
            up = await client.get("/readyz")
            assert up.status_code == 200, up.text
            assert up.json()["checks"]["redis"]["ok"] is True
            assert up.json()["checks"]["redis"]["shared"] is True

            server.stop()
            down = await client.get("/readyz")
            if policy == "local":
                assert down.status_code == 200, down.text
                redis = down.json()["checks"]["redis"]
                assert redis["ok"] is True and redis["shared"] is False
                assert "runs per process" in redis["detail"]
            else:
                assert_problem(down, 503, "shared-state-unavailable")
                assert down.json()["failed"] == ["redis"]
                assert down.json()["checks"]["redis"]["shared"] is False

            server.start()
            back = await client.get("/readyz")
            assert back.status_code == 200, back.text
            assert back.json()["checks"]["redis"]["shared"] is True

            assert server.process is not None
            _signal_all(server.process, signal.SIGSTOP)
            try:
                hung, took = await _timed_readyz(client)
            finally:
                _signal_all(server.process, signal.SIGCONT)
            assert took < CHECK_TIMEOUT_S + 1.0, took
            assert hung.json()["checks"]["redis"]["shared"] is False
            assert "no answer within" in hung.json()["checks"]["redis"]["detail"]
            assert hung.status_code == (200 if policy == "local" else 503), hung.text
            for _ in range(50):
                again = await client.get("/readyz")
                if again.json()["checks"]["redis"]["shared"]:
                    break
                await asyncio.sleep(0.1)
            assert again.status_code == 200 and again.json()["checks"]["redis"]["shared"]
    finally:
        server.cleanup()


async def test_without_redis_url_there_is_no_redis_check(client):
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and "redis" not in ready.json()["checks"]
