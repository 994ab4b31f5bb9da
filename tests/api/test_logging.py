"""Keys and article text never reach the logs at info level, whatever happens."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest

from service.app import create_app
from tests.api.helpers import api_client, configured_logs
from tests.fakes.upstream import Reply, json_reply

KEY = "sk-live-4f9c2e7d1b"
WRONG_KEY = "sk-guess-8a7b6c5d"
SECRET_FACT = "The vault code is Zanzibar-7741 and only Mirela Oksanen knows it."


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _provoke_every_kind_of_line(settings, upstream):
    """Store, fail (re-ask, then 502), answer, refuse a wrong key, hit the rate limit."""
    keyed = replace(settings, api_keys=frozenset({KEY}), rate_limit="4/minute")
    article = f"{SECRET_FACT} The bank opens at nine. Staff arrive at eight."
    auth = {"authorization": f"Bearer {KEY}"}
    upstream.enqueue(
        Reply(content=f"I cannot repeat {SECRET_FACT}"),  # unusable: re-asked, then 502
        Reply(content="Still no JSON."),
        json_reply({"answer": "Zanzibar-7741", "sentence": 1}),
        Reply(status=500),
    )
    statuses = []
    async with api_client(create_app(keyed)) as client:
        created = await client.post("/v1/documents", json={"text": article}, headers=auth)
        url = f"/v1/documents/{created.json()['id']}/answers"
        failed = await client.post(url, json={"question": "What is the vault code?"}, headers=auth)
        answered = await client.post(url, json={"question": "Who knows the code?"}, headers=auth)
        refused = await client.post(
            "/v1/documents",
            json={"text": article},
            headers={"authorization": f"Bearer {WRONG_KEY}"},
        )
        await client.post(url, json={"question": "When does it open?"}, headers=auth)
        limited = await client.post(url, json={"question": "When do staff arrive?"}, headers=auth)
        statuses = [r.status_code for r in (created, failed, answered, refused, limited)]
    assert statuses == [201, 502, 200, 401, 429]


SECRETS = (KEY, WRONG_KEY, "Zanzibar", "Mirela Oksanen", "vault code")


async def test_keys_and_article_text_stay_out_of_the_logs(settings, upstream):
    collect = Collect()
    # Attached to the root logger, where every record ends up, at the level served with.
    root = logging.getLogger()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.INFO)
    try:
        await _provoke_every_kind_of_line(settings, upstream)
    finally:
        root.removeHandler(collect)
        root.setLevel(level)
    formatter = logging.Formatter()
    logged = "\n".join(formatter.format(r) for r in collect.records)
    assert "asking once more" in logged  # the faults themselves were logged...
    for secret in SECRETS:
        assert secret not in logged  # ...without what the client sent


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_each_log_format_keeps_keys_and_article_text_out(settings, upstream, log_format):
    # LOG_FORMAT=json adds fields (path, route...) to every line: none may carry them either.
    with configured_logs(log_format) as logs:
        await _provoke_every_kind_of_line(settings, upstream)
    written = logs.getvalue()
    assert "asking once more" in written and "service.access" in written
    for secret in SECRETS:
        assert secret not in written
    if log_format == "json":
        lines = [json.loads(line) for line in written.splitlines()]
        for line in lines:
            assert {"timestamp", "level", "logger", "message", "request_id"} <= set(line)
        access = [line for line in lines if line["logger"] == "service.access"]
        assert {line["status"] for line in access} >= {201, 502, 200, 401, 429}
        for line in access:
            assert line["route"].startswith("/v1/documents") and line["duration_ms"] >= 0
            assert line["method"] == "POST" and line["request_id"] != "-"
