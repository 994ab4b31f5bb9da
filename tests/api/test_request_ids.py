"""Every response carries an X-Request-ID, problem bodies repeat it, and every log line of
the request carries it (issue #13)."""

from __future__ import annotations

import json
import re

import pytest

from tests.api.helpers import assert_problem, configured_logs, parse_sse, store
from tests.fakes.upstream import Reply, json_reply

GENERATED = re.compile(r"[0-9a-f]{24}")


async def test_a_request_without_an_id_gets_a_new_one_each_time(client):
    first, second = await client.get("/healthz"), await client.get("/healthz")
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2 and all(GENERATED.fullmatch(i) for i in ids)


@pytest.mark.parametrize("given", ["abc", "req-42_retry.1", "A" * 128])
async def test_a_well_formed_id_comes_back_unchanged(client, given):
    response = await client.get("/healthz", headers={"x-request-id": given})
    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize(
    "given",
    ["", "two words", "A" * 129, 'quote"d', "semi;colon", "ünïcode", "new\\nline", "a/b"],
)
async def test_a_malformed_id_is_replaced_not_echoed(client, given):
    # Anything else could forge or break log lines and headers downstream.
    response = await client.get("/healthz", headers={"x-request-id": given.encode("utf-8")})
    assert GENERATED.fullmatch(response.headers["x-request-id"])


async def test_problem_bodies_carry_the_request_id_of_their_response(client):
    missing = await client.get("/v1/documents/doc_none", headers={"x-request-id": "trace-404"})
    body = assert_problem(missing, 404)
    assert body["request_id"] == "trace-404" == missing.headers["x-request-id"]
    unrouted = await client.get("/no/such/path")  # no route: still an id, in both places
    assert assert_problem(unrouted, 404)["request_id"] == unrouted.headers["x-request-id"]
    invalid = await client.post("/v1/documents", json={"text": " "})
    assert assert_problem(invalid, 422)["request_id"] == invalid.headers["x-request-id"]


async def test_a_streamed_error_event_carries_the_request_id(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(Reply(status=400))  # refused: a 502 problem, sent as an `error` event
    response = await client.post(
        f"/v1/documents/{document['id']}/answers",
        json={"question": "Who spoke?"},
        headers={"accept": "text/event-stream", "x-request-id": "stream-7"},
    )
    assert response.headers["x-request-id"] == "stream-7"
    (error,) = [json.loads(data) for event, data in parse_sse(response.text) if event == "error"]
    assert error["status"] == 502 and error["request_id"] == "stream-7"


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_every_log_line_of_a_request_carries_its_id(
    client, upstream, sample_article, log_format
):
    document = await store(client, sample_article)
    # An unusable reply is logged ("asking once more") before the re-ask answers.
    upstream.enqueue(
        Reply(content="no JSON here"), json_reply({"answer": "Peskov", "sentence": 17})
    )
    with configured_logs(log_format) as logs:
        answered = await client.post(
            f"/v1/documents/{document['id']}/answers",
            json={"question": "Who is the spokesperson?"},
            headers={"x-request-id": "ask-1"},
        )
        other = await client.get("/healthz", headers={"x-request-id": "probe-1"})
    assert answered.status_code == 200 and other.status_code == 200
    lines = logs.getvalue().splitlines()
    if log_format == "json":
        records = [json.loads(line) for line in lines]  # every line is one JSON object
        mine = [r for r in records if r["request_id"] == "ask-1"]
        assert {r["logger"] for r in mine} >= {"service.pipeline.structured", "service.access"}
        assert all(r["request_id"] == "probe-1" for r in records if r.get("path") == "/healthz")
    else:
        mine = [line for line in lines if "[ask-1]" in line]
        assert any("asking once more" in line for line in mine)
        assert any("service.access" in line and "/answers 200" in line for line in mine)
        assert any("[probe-1]" in line and "/healthz" in line for line in lines)
