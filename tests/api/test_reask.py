"""An unusable model reply is re-asked once, with the reason, before giving up."""

from __future__ import annotations

import json

from tests.api.helpers import deltas, parse_sse, sentence_with, store
from tests.citations import assert_valid_citations
from tests.fakes.upstream import Reply, json_reply


async def test_refusal_is_reasked_with_the_parse_error_and_then_answered(
    client, upstream, sample_article
):
    document = await store(client, sample_article)
    target = sentence_with(document, "Dmitry Kiselyov")
    refusal = "I'm sorry, but I can't help with that."
    upstream.enqueue(
        Reply(content=refusal, prompt_tokens=100, completion_tokens=9),
        json_reply({"answer": "Dmitry Kiselyov", "sentence": target + 1}, prompt_tokens=130),
    )
    response = await client.post(
        f"/v1/documents/{document['id']}/answers", json={"question": "Who interviewed Putin?"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] == "Dmitry Kiselyov"
    assert_valid_citations(sample_article, body)
    assert body["usage"] == {
        "prompt_tokens": 230,
        "completion_tokens": 16,
        "total_tokens": 246,
        "calls": 2,
    }
    first, second = (request["messages"] for request in upstream.history)
    # The re-ask repeats the conversation, shows the model its reply, and says what was wrong.
    assert second[: len(first)] == first
    assert second[len(first)] == {"role": "assistant", "content": refusal}
    assert second[-1]["role"] == "user"
    assert "no JSON object" in second[-1]["content"]
    assert upstream.history[1]["response_format"] == upstream.history[0]["response_format"]


async def test_reply_without_the_answer_field_is_reasked(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(
        json_reply({"sentence": 3}),
        json_reply({"answer": "Dmitry Kiselyov", "sentence": 3}),
    )
    body = (
        await client.post(
            f"/v1/documents/{document['id']}/answers", json={"question": "Who interviewed Putin?"}
        )
    ).json()
    assert body["answer"] == "Dmitry Kiselyov"
    assert "'answer'" in upstream.history[1]["messages"][-1]["content"]


async def test_empty_reply_is_reasked(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(Reply(content=""), json_reply({"answer": "Dmitry Kiselyov", "sentence": 3}))
    body = (
        await client.post(
            f"/v1/documents/{document['id']}/answers", json={"question": "Who interviewed Putin?"}
        )
    ).json()
    assert body["answer"] == "Dmitry Kiselyov"
    assert upstream.history[1]["messages"][-2] == {
        "role": "assistant",
        "content": "(an empty reply)",
    }


async def test_unreadable_summary_is_reasked(client, upstream, sample_article):
    document = await store(client, sample_article)
    faithful = {
        "text": "Poland clarified that it would not send any troops to Ukraine.",
        "sources": [1],
    }
    upstream.enqueue(
        Reply(content="Here is a summary: Poland will not send troops."),
        json_reply({"sentences": [faithful]}),
    )
    response = await client.post(
        f"/v1/documents/{document['id']}/summary", json={"length": "short"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [s["text"] for s in body["sentences"]] == [faithful["text"]]
    assert_valid_citations(sample_article, body)
    assert body["usage"]["calls"] == 2


async def test_streamed_answer_recovers_through_the_reask(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(
        Reply(content="Sorry, no."), json_reply({"answer": "Dmitry Kiselyov", "sentence": 3})
    )
    response = await client.post(
        f"/v1/documents/{document['id']}/answers",
        json={"question": "Who interviewed Putin?"},
        headers={"accept": "text/event-stream"},
    )
    events = parse_sse(response.text)
    assert events[-1][0] == "result"
    final = json.loads(events[-1][1])
    assert final["answer"] == "Dmitry Kiselyov"
    assert_valid_citations(sample_article, final)
    # Only the first attempt streams; the result event carries the re-asked answer.
    assert deltas(events) == ""
    assert upstream.history[0]["stream"] is True
    assert not upstream.history[1].get("stream")
