"""Optional API keys and CORS: closed by default, open only to what settings allow."""

from __future__ import annotations

from dataclasses import replace

import pytest

from service.app import create_app
from service.settings import Settings
from tests.api.helpers import api_client


async def test_without_keys_the_api_is_open_and_sends_no_cors_headers(client):
    response = await client.post(
        "/v1/documents", json={"text": "Open text."}, headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 201
    assert "access-control-allow-origin" not in response.headers


async def test_keys_are_required_on_the_api_but_not_on_probes(settings):
    keyed = replace(settings, api_keys=frozenset({"k-one", "k-two"}))
    async with api_client(create_app(keyed)) as client:
        missing = await client.post("/v1/documents", json={"text": "Some text."})
        wrong = await client.post(
            "/v1/documents", json={"text": "Some text."}, headers={"authorization": "Bearer nope"}
        )
        right = await client.post(
            "/v1/documents", json={"text": "Some text."}, headers={"authorization": "Bearer k-two"}
        )
        health = await client.get("/healthz")
        schema = await client.get("/schema/openapi.json")
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert right.status_code == 201
    assert health.status_code == 200 and schema.status_code == 200


async def test_cors_allows_only_configured_origins(settings):
    opened = replace(settings, cors_origins=("https://app.example",))
    async with api_client(create_app(opened)) as client:
        allowed = await client.get("/healthz", headers={"origin": "https://app.example"})
        other = await client.get("/healthz", headers={"origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"


def test_keys_and_origins_come_from_the_environment(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("# team keys\nfile-key\n\n", "utf-8")
    settings = Settings.from_env(
        {"API_KEYS": "a, b", "API_KEYS_FILE": str(keys_file), "CORS_ORIGINS": "https://x.example"}
    )
    assert settings.api_keys == frozenset({"a", "b", "file-key"})
    assert settings.cors_origins == ("https://x.example",)
    with pytest.raises(ValueError, match="API_KEYS_FILE"):
        Settings.from_env({"API_KEYS_FILE": str(tmp_path / "missing")})
