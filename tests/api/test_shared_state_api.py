"""Several app instances sharing a real PostgreSQL and Redis, in one process (issue #14):
the contract of replicas, fast; tests/cluster/ runs it as real processes behind no
shared memory at all."""

from __future__ import annotations

import asyncio
import hashlib
import json
from contextlib import AsyncExitStack
from dataclasses import replace

import httpx
import pytest
import redis.asyncio as aioredis
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from service.app import create_app
from service.domain import document_id
from service.settings import Settings
from service.shared.redis_state import SharedStateStartupError
from service.store.base import StoreStartupError
from tests.api.helpers import api_client, assert_problem, captured_logs, deltas, parse_sse
from tests.fakes.upstream import json_reply
from tests.servers import RedisServer


async def _replicas(
    stack: AsyncExitStack, settings: Settings, n: int = 3
) -> list[httpx.AsyncClient]:
    return [await stack.enter_async_context(api_client(create_app(settings))) for _ in range(n)]


async def test_a_rate_limit_admits_exactly_its_amount_across_replicas(settings, redis_url):
    shared = replace(
        settings, redis_url=redis_url, rate_limit="5/minute", api_keys=frozenset({"k"})
    )
    async with AsyncExitStack() as stack:
        clients = await _replicas(stack, shared)
        responses = await asyncio.gather(
            *(
                clients[i % 3].get(
                    "/v1/documents/" + "0" * 64, headers={"authorization": "Bearer k"}
                )
                for i in range(18)
            )
        )
    codes = [r.status_code for r in responses]
    assert codes.count(404) == 5 and codes.count(429) == 13, codes


async def test_documents_and_results_are_shared_and_a_delete_reaches_every_replica(
    settings, redis_url, database_url, upstream, sample_article
):
    shared = replace(settings, redis_url=redis_url, database_url=database_url)
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17})
    question = {"question": "Who is the Kremlin spokesperson?"}
    doc_id = document_id(sample_article)
    async with AsyncExitStack() as stack:
        a, b, c = await _replicas(stack, shared)
        assert (await a.post("/v1/documents", json={"text": sample_article})).status_code == 201
        assert (await b.get(f"/v1/documents/{doc_id}")).status_code == 200
        first = await b.post(f"/v1/documents/{doc_id}/answers", json=question)
        again = await c.post(f"/v1/documents/{doc_id}/answers", json=question)
        assert first.json()["cached"] is False and again.json()["cached"] is True
        assert upstream.calls == 1
        assert (await c.delete(f"/v1/documents/{doc_id}")).status_code == 204
        for client in (a, b, c):
            # The deleting replica at once; the others as soon as the NOTIFY arrives.
            for _ in range(100):
                if (await client.get(f"/v1/documents/{doc_id}")).status_code == 404:
                    break
                await asyncio.sleep(0.05)
            assert_problem(await client.get(f"/v1/documents/{doc_id}"), 404)
        # Stored again: no result of the deleted document survived anywhere.
        assert (await a.post("/v1/documents", json={"text": sample_article})).status_code == 201
        fresh = await b.post(f"/v1/documents/{doc_id}/answers", json=question)
        assert fresh.json()["cached"] is False
        assert upstream.calls == 2


@pytest.mark.parametrize(("policy", "status"), [("local", 201), ("refuse", 503)])
async def test_with_redis_stopped_requests_go_local_or_get_a_problem_never_a_500(
    settings, policy, status
):
    server = RedisServer().start()
    try:
        shared = replace(
            settings, redis_url=server.url, redis_unavailable=policy, rate_limit="100/minute"
        )
        async with api_client(create_app(shared)) as client:
            server.stop()
            response = await client.post("/v1/documents", json={"text": "Text during an outage."})
            if status == 503:
                assert_problem(response, 503, "shared-state-unavailable")
            else:
                assert response.status_code == 201, response.text
            server.start()
            await asyncio.sleep(1.1)  # past the pause after a failure
            back = await client.post("/v1/documents", json={"text": "Text after the outage."})
            assert back.status_code == 201
            assert back.headers["ratelimit-remaining"] == "99"  # counted in Redis again
    finally:
        server.cleanup()


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("DATABASE_URL", "postgresql://u:pw@127.0.0.1:1/db"),
        ("REDIS_URL", "redis://:pw@127.0.0.1:1/0"),
    ],
)
async def test_an_unreachable_url_stops_start_up_with_one_clear_line(settings, variable, url):
    field = "database_url" if variable == "DATABASE_URL" else "redis_url"
    app = create_app(replace(settings, **{field: url}))
    with captured_logs("service.app") as records, pytest.raises(ExceptionGroup) as raised:
        async with api_client(app):
            pass
    assert raised.group_contains(
        StoreStartupError if field == "database_url" else SharedStateStartupError
    )
    lines = [r.getMessage() for r in records]
    assert any(variable in line and "127.0.0.1:1" in line for line in lines), lines
    assert not any("pw" in line for line in lines), lines


async def test_a_result_made_by_another_replica_still_streams_its_text(
    settings, redis_url, database_url, upstream, sample_article
):
    shared = replace(settings, redis_url=redis_url, database_url=database_url)
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17})
    question = {"question": "Who is the Kremlin spokesperson? (streamed)"}
    async with AsyncExitStack() as stack:
        a, b = await _replicas(stack, shared, 2)
        doc_id = (await a.post("/v1/documents", json={"text": sample_article})).json()["id"]
        made = await a.post(f"/v1/documents/{doc_id}/answers", json=question)
        streamed = await b.post(
            f"/v1/documents/{doc_id}/answers",
            json=question,
            headers={"accept": "text/event-stream"},
        )
    events = parse_sse(streamed.text)
    assert deltas(events) == "Dmitry Peskov"
    assert json.loads(events[-1][1]) == {**made.json(), "cached": True}
    assert upstream.calls == 1


async def test_rate_limit_headers_count_every_replicas_requests_including_their_own(
    settings, redis_url, upstream, sample_article
):
    # The window's numbers are read after the request was counted (and awaited only when
    # the response starts): each response says what is left after it, across replicas.
    shared = replace(settings, redis_url=redis_url, rate_limit="6/minute")
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17})
    async with AsyncExitStack() as stack:
        clients = await _replicas(stack, shared)
        doc_id = document_id(sample_article)
        remaining = []
        for i in range(6):
            response = await clients[i % 3].post(
                "/v1/ask", json={"text": sample_article, "question": f"Who spoke? ({i})"}
            )
            assert response.status_code == 200, response.text
            assert response.headers["ratelimit-limit"] == "6"
            remaining.append(response.headers["ratelimit-remaining"])
        refused = await clients[0].get(f"/v1/documents/{doc_id}")
    assert remaining == ["5", "4", "3", "2", "1", "0"]
    assert_problem(refused, 429, "rate-limited")
    assert refused.headers["ratelimit-remaining"] == "0"


async def test_rate_limit_counts_are_the_limits_librarys_own_and_survive_a_script_flush(
    settings, redis_url
):
    # One limit is counted and read back in one round trip with the library's own Lua
    # scripts and keys: the library itself sees every count, and after Redis forgot its
    # scripts (as a restart does) nothing is counted twice or lost.
    shared = replace(
        settings, redis_url=redis_url, rate_limit="7/minute", api_keys=frozenset({"k"})
    )
    key = {"authorization": "Bearer k"}
    item = parse("7/minute")
    library = MovingWindowRateLimiter(RedisStorage("async+" + redis_url, implementation="redispy"))
    who = "key:" + hashlib.sha256(b"k").hexdigest()[:24]
    async with AsyncExitStack() as stack:
        a, b = await _replicas(stack, shared, 2)
        missing = "/v1/documents/" + "0" * 64
        first = [await client.get(missing, headers=key) for client in (a, b, a)]
        assert [r.headers["ratelimit-remaining"] for r in first] == ["6", "5", "4"]
        assert (await library.get_window_stats(item, who)).remaining == 4
        await aioredis.Redis.from_url(redis_url).script_flush()
        after = [await client.get(missing, headers=key) for client in (b, a, b, a)]
        assert [r.status_code for r in after] == [404, 404, 404, 404]
        assert [r.headers["ratelimit-remaining"] for r in after] == ["3", "2", "1", "0"]
        refused = await b.get(missing, headers=key)
    assert_problem(refused, 429, "rate-limited")
    assert int(refused.headers["retry-after"]) >= 1
    assert (await library.get_window_stats(item, who)).remaining == 0
