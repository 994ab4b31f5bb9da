"""Concurrent first requests against endpoints that take different structured-output
forms: the probe runs once per rejected form, never races, and nothing reaches a 500.

Issue #15: every concurrent call that saw json_schema rejected used to pop the shared
list of forms, so three rejections emptied it and later calls died with IndexError.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from service.app import create_app
from tests.api.helpers import api_client, assert_problem, deltas, parse_sse, store
from tests.citations import assert_valid_citations
from tests.fakes.upstream import Reply, json_reply

# What each kind of endpoint takes, how it refuses the rest, and the form that should win.
ENDPOINTS = {
    "openai (json_schema)": ({"json_schema", "json_object"}, False, "json_schema", 0),
    "llama-cpp-python (json_object only)": ({"json_object"}, True, "json_object", 1),
    "neither": (set(), False, None, 2),
}


def _long_article(shared_data: Any) -> str:
    line = (shared_data / "squad2_dev_articles.jsonl").read_text("utf-8").splitlines()[0]
    return str(json.loads(line)["text"])


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_concurrent_first_requests_settle_the_form_once(
    endpoint, settings, upstream, sample_article, shared_data
):
    formats, llama_style, winner, rejections = ENDPOINTS[endpoint]
    upstream.response_formats = formats
    upstream.rejects_like_llama_cpp = llama_style
    # Every reply is valid for both prompts: an answer quoting the article and a
    # summary sentence copied from it.
    upstream.default = json_reply(
        {
            "answer": "Dmitry Peskov",
            "sentence": 17,
            "sentences": [
                {
                    "text": "Kremlin spokesperson Dmitry Peskov warned last month.",
                    "sources": [17],
                }
            ],
        }
    )
    long_text = _long_article(shared_data)
    app = create_app(replace(settings, llm_structured_output="auto", llm_concurrency=4))
    async with api_client(app) as client:
        short_doc = await store(client, sample_article)
        long_doc = await store(client, long_text)
        question = {"question": "Who is the Kremlin spokesperson?"}
        sse = {"accept": "text/event-stream"}
        requests = [
            ("answer", short_doc, f"/v1/documents/{short_doc['id']}/answers", question, {}),
            (
                "answer",
                short_doc,
                f"/v1/documents/{short_doc['id']}/answers",
                {"question": "What did Peskov warn about?"},
                sse,
            ),
            ("answer", short_doc, "/v1/ask", {"text": sample_article, **question}, {}),
            ("summary", short_doc, f"/v1/documents/{short_doc['id']}/summary", {}, {}),
            (
                "summary",
                short_doc,
                f"/v1/documents/{short_doc['id']}/summary",
                {"length": "short"},
                sse,
            ),
            ("summary", long_doc, f"/v1/documents/{long_doc['id']}/summary", {}, {}),
            (
                "summary",
                long_doc,
                f"/v1/documents/{long_doc['id']}/summary",
                {"format": "bullets"},
                sse,
            ),
            (
                "answer",
                long_doc,
                f"/v1/documents/{long_doc['id']}/answers",
                {"question": "Who was Rollo?"},
                {},
            ),
        ]
        responses = await asyncio.gather(
            *(
                client.post(path, json=body, headers=headers)
                for _, _, path, body, headers in requests
            )
        )

    for (kind, document, path, _, headers), response in zip(requests, responses, strict=True):
        assert response.status_code == 200, (path, response.text)
        if headers:
            events = parse_sse(response.text)
            assert [e for e, _ in events if e == "error"] == [], events
            result = json.loads(events[-1][1])
            assert events[-1][0] == "result"
            if kind == "summary" and document is short_doc:
                assert deltas(events), "a streamed summary shows text as it is written"
        else:
            result = response.json()
        assert_valid_citations(document["text"], result)
        if kind == "summary":
            assert result["sentences"], result

    # The form settled once: each refused form was tried by exactly one call, and
    # every call after the probe used the winning form.
    assert len(upstream.rejected) == rejections
    used = [(r.get("response_format") or {}).get("type") for r in upstream.history]
    assert used and set(used) == {winner}


async def test_a_probe_that_fails_for_another_reason_leaves_the_next_call_to_probe(
    settings, upstream, sample_article
):
    upstream.response_formats = {"json_object"}
    upstream.enqueue(Reply(status=503))
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17})
    app = create_app(replace(settings, llm_structured_output="auto"))
    async with api_client(app) as client:
        document = await store(client, sample_article)
        url = f"/v1/documents/{document['id']}/answers"
        failed = await client.post(url, json={"question": "Who is the Kremlin spokesperson?"})
        answered = await client.post(url, json={"question": "Who warned last month?"})
    assert_problem(failed, 502, "model-unavailable")
    assert answered.status_code == 200, answered.text
    assert_valid_citations(sample_article, answered.json())
    assert len(upstream.rejected) == 1  # json_schema was refused once, not re-probed
    assert [r["response_format"]["type"] for r in upstream.history] == ["json_object"] * 2
