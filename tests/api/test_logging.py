"""Keys and article text never reach the logs at info level, whatever happens."""

from __future__ import annotations

import logging
from dataclasses import replace

from service.app import create_app
from tests.api.helpers import api_client
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


async def test_keys_and_article_text_stay_out_of_the_logs(settings, upstream):
    collect = Collect()
    keyed = replace(settings, api_keys=frozenset({KEY}), rate_limit="4/minute")
    article = f"{SECRET_FACT} The bank opens at nine. Staff arrive at eight."
    auth = {"authorization": f"Bearer {KEY}"}
    upstream.enqueue(
        Reply(content=f"I cannot repeat {SECRET_FACT}"),  # unusable: re-asked, then 502
        Reply(content="Still no JSON."),
        json_reply({"answer": "Zanzibar-7741", "sentence": 1}),
        Reply(status=500),
    )
    async with api_client(create_app(keyed)) as client:
        # Attached after startup: the app's logging setup replaces the root handlers.
        root = logging.getLogger()
        root.addHandler(collect)
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
        root.removeHandler(collect)

    assert [created.status_code, failed.status_code, answered.status_code] == [201, 502, 200]
    assert refused.status_code == 401 and limited.status_code == 429
    formatter = logging.Formatter()
    logged = "\n".join(formatter.format(r) for r in collect.records)
    assert "asking once more" in logged  # the faults themselves were logged...
    for secret in (KEY, WRONG_KEY, "Zanzibar", "Mirela Oksanen", "vault code"):
        assert secret not in logged  # ...without what the client sent
