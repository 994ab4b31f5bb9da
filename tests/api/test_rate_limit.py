"""RATE_LIMIT: per API key (or per address when the API is open), 429 + Retry-After."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

import pytest

from service.app import create_app
from service.settings import Settings
from tests.api.helpers import api_client, assert_problem

_numbers = itertools.count()


def body() -> dict[str, str]:
    """A new document each time (the same text again would be a 200, not a 201)."""
    return {"text": f"Counted text number {next(_numbers)}."}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_each_key_has_its_own_budget_and_is_told_when_to_retry(settings):
    limited = replace(settings, api_keys=frozenset({"k-one", "k-two"}), rate_limit="3/minute")
    async with api_client(create_app(limited)) as client:
        allowed = [
            await client.post("/v1/documents", json=body(), headers=bearer("k-one"))
            for _ in range(3)
        ]
        refused = await client.post("/v1/documents", json=body(), headers=bearer("k-one"))
        other_key = await client.post("/v1/documents", json=body(), headers=bearer("k-two"))
        bad_key = await client.post("/v1/documents", json=body(), headers=bearer("nope"))
        probe = await client.get("/healthz")

    assert [r.status_code for r in allowed] == [201, 201, 201]
    assert [r.headers["ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
    assert allowed[0].headers["ratelimit-limit"] == "3"
    assert 1 <= int(allowed[0].headers["ratelimit-reset"]) <= 60

    problem = assert_problem(refused, 429, "rate-limited")
    assert "3 per 1 minute" in problem["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"

    assert other_key.status_code == 201 and other_key.headers["ratelimit-remaining"] == "2"
    assert bad_key.status_code == 401  # refused for the key, not counted against anyone
    assert probe.status_code == 200 and "ratelimit-limit" not in probe.headers


async def test_open_api_counts_per_client_address_and_made_up_tokens_do_not_help(settings):
    async with api_client(create_app(replace(settings, rate_limit="2/minute"))) as client:
        statuses = [
            (
                await client.post("/v1/documents", json=body(), headers=bearer(f"made-up-{i}"))
            ).status_code
            for i in range(3)
        ]
    assert statuses == [201, 201, 429]


async def test_budget_returns_when_the_window_moves_on(settings):
    limited = replace(settings, api_keys=frozenset({"k"}), rate_limit="2/second")
    async with api_client(create_app(limited)) as client:
        for _ in range(2):
            assert (
                await client.post("/v1/documents", json=body(), headers=bearer("k"))
            ).status_code == 201
        refused = await client.post("/v1/documents", json=body(), headers=bearer("k"))
        assert refused.status_code == 429
        await asyncio.sleep(int(refused.headers["retry-after"]) + 0.1)
        again = await client.post("/v1/documents", json=body(), headers=bearer("k"))
    assert again.status_code == 201


async def test_every_limit_in_the_list_applies(settings):
    limited = replace(settings, rate_limit="5/minute;2/hour")
    async with api_client(create_app(limited)) as client:
        first = await client.post("/v1/documents", json=body())
        statuses = [(await client.post("/v1/documents", json=body())).status_code for _ in range(2)]
    # The tighter limit is the one reported and enforced.
    assert first.headers["ratelimit-limit"] == "2" and first.headers["ratelimit-remaining"] == "1"
    assert statuses == [201, 429]


def test_unreadable_rate_limit_is_a_settings_error():
    with pytest.raises(ValueError, match="RATE_LIMIT"):
        Settings.from_env({"RATE_LIMIT": "lots per day"})
    assert (
        Settings.from_env({"RATE_LIMIT": "10/second;1000/day"}).rate_limit == "10/second;1000/day"
    )


async def test_concurrent_requests_cannot_overrun_the_limit(settings):
    limited = replace(settings, api_keys=frozenset({"k"}), rate_limit="5/minute")
    async with api_client(create_app(limited)) as client:
        responses = await asyncio.gather(
            *(client.post("/v1/documents", json=body(), headers=bearer("k")) for _ in range(20))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 5 + [429] * 15
