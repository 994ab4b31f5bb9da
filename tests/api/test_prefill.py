"""Reading a short article ahead of its first question (PREFILL_ARTICLES), against a
scripted upstream: what is sent, when it is not, and that it never gets in the way."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading

import pytest

from service.app import create_app
from service.pipeline import prefill
from service.pipeline.context import EvidencePolicy
from service.pipeline.ingest import make_document
from service.pipeline.prefill import prefill_steps
from service.retrieval.index import DocumentIndex
from tests.api.helpers import api_client, captured_logs, store
from tests.fakes.upstream import Reply, json_reply
from tests.metrics_scrape import Scrape

SHORT = (
    "The Varna bridge opened in 1932 after six years of work. "
    "It was designed by the engineer Ilse Brandt, who also designed the harbour station. "
    "The city council paid 4 million marks for it."
)


@contextlib.asynccontextmanager
async def service(settings, upstream, monkeypatch, prefill_articles="on", grace_s=0.0):
    """A client of the service and its pipeline (to wait for reading to finish); no
    grace period by default: the test says when to ask."""
    monkeypatch.setattr(prefill, "PREFILL_GRACE_S", grace_s)
    upstream.default = Reply(content="{")
    app = create_app(dataclasses.replace(settings, prefill_articles=prefill_articles))
    async with api_client(app) as client:
        yield client, app.state.pipeline


@pytest.fixture
async def reading(settings, upstream, monkeypatch):
    async with service(settings, upstream, monkeypatch) as served:
        yield served


def _reads(upstream) -> list[dict]:
    return [r for r in upstream.history if r["max_tokens"] == 1]


def _expected_steps(settings, text: str) -> list:
    index = DocumentIndex.build(make_document(text, settings.chunk_tokens, 32))
    return prefill_steps(index, EvidencePolicy.of(settings))


async def test_a_stored_article_is_read_as_its_first_question_will_show_it(
    reading, upstream, settings, sample_article
):
    client, pipeline = reading
    document = await store(client, sample_article)
    await pipeline.prefilled()

    reads = _reads(upstream)
    steps = _expected_steps(settings, sample_article)
    assert len(steps) >= 3
    assert [r["messages"] for r in reads] == steps
    assert all("response_format" not in r for r in reads)  # one token, any token
    scrape = Scrape((await client.get("/metrics")).text)
    calls = scrape.value("grounded_model_calls_total", kind="prefill", outcome="ok")
    assert calls == len(steps)

    upstream.enqueue(json_reply({"answer": "Dmitry Kiselyov", "sentence": 2}))
    answer = await client.post(
        f"/v1/documents/{document['id']}/answers", json={"question": "Who interviewed Putin?"}
    )
    assert answer.status_code == 200, answer.text
    asked = upstream.history[-1]["messages"]
    # The question's prompt is the last read plus the question: the server has read
    # everything before the question already.
    assert asked[0] == reads[-1]["messages"][0]
    assert asked[1]["content"] == reads[-1]["messages"][1]["content"] + "Who interviewed Putin?"


async def test_nothing_is_read_while_a_request_waits_for_the_model(
    reading, upstream, sample_article
):
    client, pipeline = reading
    document = await store(client, sample_article)
    await pipeline.prefilled()
    before = upstream.calls
    release = threading.Event()
    upstream.enqueue(json_reply({"answer": "Putin", "sentence": 1}, hold=release))
    question = asyncio.create_task(
        client.post(f"/v1/documents/{document['id']}/answers", json={"question": "Who spoke?"})
    )
    while upstream.calls == before:
        await asyncio.sleep(0.01)

    await store(client, SHORT)  # another article, while the model is busy
    await pipeline.prefilled()
    release.set()
    assert (await question).status_code == 200

    assert upstream.calls == before + 1, "the busy model was asked to read"


async def test_a_summary_is_followed_by_a_read_for_the_questions(
    reading, upstream, settings, sample_article
):
    client, pipeline = reading
    document = await store(client, sample_article)
    await pipeline.prefilled()
    upstream.history.clear()
    upstream.enqueue(
        json_reply(
            {"sentences": [{"text": "Poland would not send troops to Ukraine.", "sources": [1]}]}
        )
    )
    summary = await client.post(f"/v1/documents/{document['id']}/summary", json={"length": "short"})
    assert summary.status_code == 200, summary.text
    await pipeline.prefilled()

    assert upstream.history[0]["max_tokens"] > 1  # the summary
    assert [r["messages"] for r in upstream.history[1:]] == _expected_steps(
        settings, sample_article
    )


async def test_a_deleted_article_is_not_read(settings, upstream, monkeypatch, sample_article):
    # A grace period long enough for the delete to come first, however slow the machine.
    async with service(settings, upstream, monkeypatch, grace_s=2.0) as (client, pipeline):
        created = await client.post("/v1/documents", json={"text": sample_article})
        deleted = await client.delete(f"/v1/documents/{created.json()['id']}")
        assert deleted.status_code == 204
        await pipeline.prefilled()
    assert upstream.calls == 0


async def test_a_failed_read_is_logged_and_the_question_still_answered(
    reading, upstream, sample_article
):
    client, pipeline = reading
    upstream.enqueue(Reply(status=500, content="out of memory"))
    with captured_logs("service.pipeline.prefill") as records:
        document = await store(client, sample_article)
        await pipeline.prefilled()
    assert [r.levelno for r in records] == [logging.INFO]
    assert "prefill of" in records[0].getMessage()
    assert upstream.calls == 1  # the first failed step stopped the reading

    upstream.enqueue(json_reply({"answer": "Putin", "sentence": 1}))
    answer = await client.post(
        f"/v1/documents/{document['id']}/answers", json={"question": "Who spoke?"}
    )
    assert answer.status_code == 200, answer.text


async def test_an_endpoint_is_not_read_into_by_default(
    settings, upstream, monkeypatch, sample_article
):
    # PREFILL_ARTICLES=auto with LLM_BASE_URL set: a hosted endpoint would bill the reads.
    async with service(settings, upstream, monkeypatch, prefill_articles="auto") as (
        client,
        pipeline,
    ):
        await store(client, sample_article)
        await pipeline.prefilled()
        await asyncio.sleep(0.3)
    assert upstream.calls == 0
