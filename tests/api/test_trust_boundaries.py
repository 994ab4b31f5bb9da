"""Trust boundaries (issue #17): headers every response carries, docs served offline,
the key scheme declared, HEAD where GET is, consistent refusals."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from service.app import create_app
from tests.api.helpers import api_client, assert_problem, store

PAGES = ["/", "/schema", "/schema/swagger"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/schema"),
        ("GET", "/schema/openapi.json"),
        ("GET", "/static/app.css"),
        ("GET", "/healthz"),
        ("GET", "/v1/documents/doc_missing"),
        ("POST", "/v1/documents"),
        ("GET", "/nothing/here"),
    ],
)
async def test_every_response_carries_nosniff_and_a_content_security_policy(client, method, path):
    response = await client.request(method, path, json={} if method == "POST" else None)
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    if response.headers["content-type"].startswith("text/html"):
        assert "default-src 'self'" in policy and "script-src" not in policy
    else:
        assert policy.startswith("default-src 'none'")


@pytest.mark.parametrize("page", PAGES)
async def test_html_pages_load_nothing_from_other_origins(client, page):
    response = await client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "<script>" not in html and "onload=" not in html  # no inline script
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "data:", "#")), url
        if url.startswith("/"):
            asset = await client.get(url)
            assert asset.status_code == 200, url


async def test_docs_page_points_at_the_served_schema(client):
    html = (await client.get("/schema")).text
    assert 'data-spec-url="/schema/openapi.json"' in html
    assert (await client.get("/schema/openapi.json")).json()["openapi"].startswith("3.1")


async def test_the_page_is_html_with_one_charset(client):
    content_type = (await client.get("/")).headers["content-type"]
    assert content_type.lower().count("charset") == 1


async def test_api_keys_are_declared_as_a_bearer_scheme_in_the_openapi_document(settings):
    async with api_client(create_app(replace(settings, api_keys=frozenset({"k"})))) as client:
        schema = (await client.get("/schema/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "http", "scheme": "bearer"}
    assert schema["security"] == [{"apiKey": []}]
    # Probes stay open, and say so.
    assert schema["paths"]["/healthz"]["get"]["security"] == [{}]
    assert schema["paths"]["/readyz"]["get"]["security"] == [{}]


async def test_without_keys_no_scheme_is_declared(client):
    schema = (await client.get("/schema/openapi.json")).json()
    assert "security" not in schema
    assert not schema.get("components", {}).get("securitySchemes")


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "document"])
async def test_head_is_answered_wherever_get_is(client, sample_article, path):
    if path == "document":
        path = f"/v1/documents/{(await store(client, sample_article))['id']}"
    got = await client.get(path)
    head = await client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]


async def test_a_refused_cors_preflight_is_a_problem(settings):
    opened = replace(settings, cors_origins=("https://app.example",))
    async with api_client(create_app(opened)) as client:
        refused = await client.options(
            "/v1/documents",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        allowed = await client.options(
            "/v1/documents",
            headers={"origin": "https://app.example", "access-control-request-method": "POST"},
        )
    problem = assert_problem(refused, 400, "cors-refused")
    assert "CORS_ORIGINS" in problem["detail"]
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ask", {"text": "Alice met Bob in Paris.", "question": "Where\x00 did they meet?"}),
        ("/v1/ask", {"text": "Alice met Bob in Paris.", "question": "Where \x1b[31m?"}),
        ("/v1/documents", {"text": "Alice met Bob in Paris.", "title": "A\x00B"}),
        ("/v1/documents", {"text": "Alice met Bob in Paris.", "url": "https://x/\x00"}),
        ("/v1/summarize", {"text": "Alice met Bob in Paris.", "focus": "Bob\x00"}),
    ],
)
async def test_nul_and_control_characters_are_refused_in_every_text_field(client, path, body):
    problem = assert_problem(await client.post(path, json=body), 422, "invalid-field")
    assert "control characters" in problem["detail"]
    # Refused before anything was stored.
    assert (await client.get("/v1/documents/doc_none")).status_code == 404
