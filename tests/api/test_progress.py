"""Streamed summaries of long articles report progress: one `progress` event per map call
finished, before the reduce step's deltas (issue #13)."""

from __future__ import annotations

import json

from tests.api.helpers import parse_sse, store
from tests.citations import assert_valid_citations
from tests.fakes.upstream import json_reply

SUMMARY = {"sentences": [{"text": "The Normans gave their name to Normandy.", "sources": [1]}]}


def _long_article(shared_data) -> str:
    line = (shared_data / "squad2_dev_articles.jsonl").read_text("utf-8").splitlines()[0]
    return str(json.loads(line)["text"])


async def test_progress_events_count_the_map_calls_before_the_deltas(client, upstream, shared_data):
    text = _long_article(shared_data)
    document = await store(client, text)
    upstream.default = json_reply(SUMMARY)
    response = await client.post(
        f"/v1/documents/{document['id']}/summary",
        json={"length": "short"},
        headers={"accept": "text/event-stream"},
    )
    events = parse_sse(response.text)
    kinds = [event for event, _ in events]
    progress = [json.loads(data) for event, data in events if event == "progress"]
    maps = upstream.calls - 1  # every call but the reduce
    assert maps >= 2
    assert progress == [{"done": i, "total": maps} for i in range(1, maps + 1)]
    # All progress first (the map calls), then the reduce step's deltas, then the result.
    assert kinds.index("delta") > max(i for i, kind in enumerate(kinds) if kind == "progress")
    assert kinds[-1] == "result"
    assert_valid_citations(text, json.loads(events[-1][1]))


async def test_a_short_article_streams_no_progress(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(json_reply({"sentences": [{"text": "Russia warned NATO.", "sources": [1]}]}))
    response = await client.post(
        f"/v1/documents/{document['id']}/summary",
        json={},
        headers={"accept": "text/event-stream"},
    )
    kinds = {event for event, _ in parse_sse(response.text)}
    assert "progress" not in kinds and "result" in kinds


async def test_one_shot_summaries_stream_progress_too(client, upstream, shared_data):
    upstream.default = json_reply(SUMMARY)
    response = await client.post(
        "/v1/summarize",
        json={"text": _long_article(shared_data), "length": "short"},
        headers={"accept": "text/event-stream"},
    )
    progress = [json.loads(d) for e, d in parse_sse(response.text) if e == "progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == upstream.calls - 1


async def test_the_openapi_document_describes_progress_events_for_summaries_only(client):
    # Issue #13: clients learn about `progress` from the served document, not the code.
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    summaries = [
        paths["/v1/documents/{document_id}/summary"]["post"],
        paths["/v1/summarize"]["post"],
    ]
    for operation in summaries:
        stream = operation["responses"]["200"]["content"]["text/event-stream"]
        assert '`{"done": i, "total": n}`' in stream["schema"]["description"]
        assert "event: progress" in stream["example"]
    answers = paths["/v1/ask"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    assert "progress" not in answers["schema"]["description"] + answers["example"]
