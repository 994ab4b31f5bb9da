"""Documents: content-addressed ids, spans, persistence, deletion."""

from __future__ import annotations

from service.app import create_app
from tests.api.helpers import api_client


async def test_same_text_gets_the_same_id(client, sample_article):
    first = await client.post("/v1/documents", json={"text": sample_article, "title": "Putin"})
    second = await client.post("/v1/documents", json={"text": sample_article})
    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    body = first.json()
    assert body["chars"] == len(sample_article)
    assert body["title"] == "Putin"
    assert body["sentences"] > 10 and body["chunks"] >= 1 and body["tokens"] > 400


async def test_read_returns_text_and_sentence_spans_that_slice_it(client, sample_article):
    doc_id = (await client.post("/v1/documents", json={"text": sample_article})).json()["id"]
    body = (await client.get(f"/v1/documents/{doc_id}")).json()
    assert body["text"] == sample_article
    pieces = [sample_article[s:e] for s, e in body["sentence_spans"]]
    assert len(pieces) == body["sentences"]
    assert pieces[0].startswith("Russia will consider")
    assert all(p == p.strip() and p for p in pieces)


async def test_delete_then_read_is_404(client, sample_article):
    doc_id = (await client.post("/v1/documents", json={"text": sample_article})).json()["id"]
    assert (await client.delete(f"/v1/documents/{doc_id}")).status_code == 204
    missing = await client.get(f"/v1/documents/{doc_id}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert (await client.delete(f"/v1/documents/{doc_id}")).status_code == 404


async def test_documents_survive_a_restart(settings, sample_article):
    async with api_client(create_app(settings)) as first:
        doc_id = (await first.post("/v1/documents", json={"text": sample_article})).json()["id"]
    async with api_client(create_app(settings)) as second:
        body = (await second.get(f"/v1/documents/{doc_id}")).json()
    assert body["text"] == sample_article


async def test_emoji_and_non_latin_offsets_are_code_points(client):
    text = "Hello 😀 мир. العربية نص هنا. Final sentence here."
    doc_id = (await client.post("/v1/documents", json={"text": text})).json()["id"]
    body = (await client.get(f"/v1/documents/{doc_id}")).json()
    assert [text[s:e] for s, e in body["sentence_spans"]][-1] == "Final sentence here."
    assert body["chars"] == len(text)
