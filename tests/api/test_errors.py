"""Bad input and model faults: always a problem+json 4xx/5xx with a useful detail, never a 500."""

from __future__ import annotations

from dataclasses import replace

import pytest

from service.app import create_app
from tests.api.helpers import api_client, assert_problem, store
from tests.fakes.upstream import Reply


async def test_malformed_json_is_400(client):
    response = await client.post(
        "/v1/documents", content=b'{"text": "abc', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize(
    ("body", "problem_type"),
    [
        (b'{"text": "caf\xe9 au lait"}', "invalid-utf8"),  # Latin-1, not UTF-8
        (b'{"text": "cut \xe2\x82"}', "invalid-utf8"),  # truncated sequence
        (b'\xff\xfe{"text": "x"}', "malformed-json"),  # UTF-16 byte order mark
    ],
)
async def test_invalid_utf8_is_400(client, body, problem_type):
    response = await client.post(
        "/v1/documents", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, problem_type)


async def test_wrong_content_type_is_415(client):
    response = await client.post(
        "/v1/documents", content=b"text=abc", headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415)


async def test_unknown_document_is_404(client):
    response = await client.post("/v1/documents/doc_nope/answers", json={"question": "Who?"})
    assert_problem(response, 404, "document-not-found")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"text": ""}, "empty"),
        ({"text": "   \n\t "}, "empty"),
        ({}, "text"),
        ({"text": 42}, "text"),
        ({"text": "ok text", "colour": "red"}, "colour"),
        ({"text": "binary\x00data here"}, "binary"),
    ],
)
async def test_invalid_document_fields_are_422(client, body, fragment):
    problem = assert_problem(await client.post("/v1/documents", json=body), 422)
    assert fragment in problem["detail"].lower() or fragment in str(problem.get("errors")).lower()


async def test_text_over_the_limit_is_413(settings, upstream):
    small = replace(settings, max_text_chars=100)
    async with api_client(create_app(small)) as client:
        problem = assert_problem(
            await client.post("/v1/documents", json={"text": "word " * 50}), 413
        )
    assert "100" in problem["detail"]


async def test_body_over_the_server_limit_is_413(settings, upstream):
    async with api_client(create_app(replace(settings, max_body_bytes=1000))) as client:
        response = await client.post("/v1/documents", json={"text": "word " * 1000})
    assert_problem(response, 413)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"question": ""}, 422),
        ({"question": "   "}, 422),
        ({"question": "why? " * 300}, 422),
        ({"question": 7}, 422),
        ({}, 422),
    ],
)
async def test_invalid_questions_are_422(client, sample_article, body, status):
    document = await store(client, sample_article)
    assert_problem(await client.post(f"/v1/documents/{document['id']}/answers", json=body), status)


@pytest.mark.parametrize(
    "body", [{"length": "huge"}, {"format": "poem"}, {"focus": "x" * 5000}, {"lenght": "short"}]
)
async def test_invalid_summary_options_are_422(client, sample_article, body):
    document = await store(client, sample_article)
    assert_problem(await client.post(f"/v1/documents/{document['id']}/summary", json=body), 422)


async def test_ask_needs_exactly_one_of_text_and_document_id(client):
    assert_problem(await client.post("/v1/ask", json={"question": "Who?"}), 422)
    assert_problem(
        await client.post("/v1/ask", json={"question": "Who?", "text": "a", "document_id": "b"}),
        422,
    )


async def test_slow_model_is_a_504(settings, upstream, sample_article):
    upstream.enqueue(Reply(content="{}", delay_s=2.0))
    async with api_client(create_app(replace(settings, llm_timeout_s=0.3))) as client:
        document = await store(client, sample_article)
        response = await client.post(
            f"/v1/documents/{document['id']}/answers", json={"question": "Who?"}
        )
    assert_problem(response, 504, "model-timeout")


async def test_unreachable_model_is_a_502(settings, sample_article):
    dead = replace(settings, llm_base_url="http://127.0.0.1:9/v1")
    async with api_client(create_app(dead)) as client:
        document = await store(client, sample_article)
        response = await client.post(
            f"/v1/documents/{document['id']}/answers", json={"question": "Who?"}
        )
        ready = await client.get("/readyz")
    assert_problem(response, 502, "model-unavailable")
    assert_problem(ready, 503)


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_unknown_route_is_a_problem_404(client):
    assert_problem(await client.get("/v2/nothing"), 404)


async def test_openapi_schema_is_served(client):
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    for path in (
        "/v1/documents",
        "/v1/documents/{document_id}/summary",
        "/v1/documents/{document_id}/answers",
        "/v1/summarize",
        "/v1/ask",
        "/healthz",
        "/readyz",
    ):
        assert path in schema["paths"], path
