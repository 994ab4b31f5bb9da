"""Byte-level fuzzing: valid request bodies with random corruption (bad UTF-8,
truncation, stray bytes). schemathesis only sends well-formed JSON; this covers the
rest. Whatever arrives, the answer is a response we meant, never a 500."""

from __future__ import annotations

import json
import random

from tests.api.helpers import store
from tests.fakes.upstream import json_reply

EXAMPLES_PER_ENDPOINT = 150


def corrupt(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(len(data) + 1)
        action = rng.choice(("flip", "insert", "delete", "truncate", "utf8"))
        if action == "flip" and where < len(data):
            data[where] = rng.randrange(256)
        elif action == "insert":
            data[where:where] = bytes([rng.randrange(256)])
        elif action == "delete" and where < len(data):
            del data[where]
        elif action == "truncate":
            del data[where:]
        elif action == "utf8":  # a lead byte without its continuation, or a lone one
            data[where:where] = rng.choice((b"\xe2\x82", b"\x80", b"\xc3", b"\xed\xa0\x80"))
    return bytes(data)


async def test_corrupted_bodies_never_cause_a_500(client, upstream, sample_article):
    upstream.default = json_reply(
        {"answer": "Putin", "sentence": 1, "sentences": [{"text": "Putin spoke.", "sources": [1]}]}
    )
    document = await store(client, sample_article)
    article = "Putin spoke in Moscow on Tuesday. Poland said it would not send troops."
    endpoints = {
        "/v1/documents": {"text": article, "title": "Ünïcode tïtle"},
        f"/v1/documents/{document['id']}/answers": {"question": "Who spoke in Moscow?"},
        f"/v1/documents/{document['id']}/summary": {"length": "short", "focus": "troops"},
        "/v1/ask": {"text": article, "question": "Who spoke — and where?"},
        "/v1/summarize": {"text": article, "format": "bullets"},
    }
    rng = random.Random(20261125)
    seen: dict[int, int] = {}
    for path, valid in endpoints.items():
        raw = json.dumps(valid, ensure_ascii=False).encode()
        for _ in range(EXAMPLES_PER_ENDPOINT):
            body = corrupt(raw, rng)
            response = await client.post(
                path, content=body, headers={"content-type": "application/json"}
            )
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (path, body, response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/problem+json")
                assert "Traceback" not in response.text
    # The corruption really produced both kinds of body.
    assert seen.get(400, 0) > 0 and sum(n for s, n in seen.items() if s < 300) > 0, seen
