"""Server-sent events: deltas as generated, then exactly the non-streaming body."""

from __future__ import annotations

import json

from tests.api.helpers import deltas, parse_sse, store
from tests.citations import assert_valid_citations
from tests.fakes.upstream import Reply, json_reply

SSE = {"accept": "text/event-stream"}


async def test_answer_stream_sends_deltas_then_the_json_body(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(json_reply({"answer": "Dmitry Kiselyov", "sentence": 3}))
    url = f"/v1/documents/{document['id']}/answers"
    response = await client.post(url, json={"question": "Who interviewed Putin?"}, headers=SSE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert [e for e, _ in events][-1] == "result"
    assert sum(e == "delta" for e, _ in events) > 1  # really incremental
    assert deltas(events) == "Dmitry Kiselyov"
    assert upstream.history[0]["stream"] is True
    final = json.loads(events[-1][1])
    assert_valid_citations(sample_article, final)
    plain = (await client.post(url, json={"question": "Who interviewed Putin?"})).json()
    assert plain == {**final, "cached": True}


async def test_summary_stream_ends_with_the_summary_body(client, upstream, sample_article):
    document = await store(client, sample_article)
    sentences = [
        {"text": "Poland clarified that it would not send any troops to Ukraine.", "sources": [1]}
    ]
    upstream.enqueue(json_reply({"sentences": sentences}))
    response = await client.post(f"/v1/documents/{document['id']}/summary", json={}, headers=SSE)
    events = parse_sse(response.text)
    assert deltas(events) == sentences[0]["text"]
    final = json.loads(events[-1][1])
    assert events[-1][0] == "result"
    assert final["text"] == sentences[0]["text"]
    assert_valid_citations(sample_article, final)


async def test_model_failure_mid_stream_is_an_error_event(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(Reply(status=503))
    response = await client.post(
        f"/v1/documents/{document['id']}/answers", json={"question": "Who?"}, headers=SSE
    )
    events = parse_sse(response.text)
    assert events[-1][0] == "error"
    assert json.loads(events[-1][1])["status"] == 502
