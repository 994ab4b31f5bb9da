"""Long articles take the retrieval path: few tokens per question, the right passage shown."""

from __future__ import annotations

import json

from service.text import count_tokens
from tests.api.helpers import sentence_with, store
from tests.citations import assert_valid_citations
from tests.fakes.upstream import json_reply


async def test_long_article_answer_sees_only_retrieved_sentences(client, upstream, shared_data):
    article = json.loads(
        (shared_data / "squad2_dev_articles.jsonl").read_text("utf-8").splitlines()[0]
    )
    text = article["text"]
    document = await store(client, text)
    upstream.enqueue(json_reply({"answer": "Rollo", "sentence": 1}))

    response = await client.post(
        f"/v1/documents/{document['id']}/answers",
        json={
            "question": "Who was the leader of the Norse raiders who swore fealty to King Charles III?"
        },
    )

    assert response.status_code == 200, response.text
    prompt = upstream.history[0]["messages"][-1]["content"]
    assert count_tokens(prompt) <= 0.25 * document["tokens"]
    target = sentence_with(document, "under their leader Rollo")
    assert f"[{target + 1}] " in prompt
    body = response.json()
    assert body["answerable"] is True and body["answer"] == "Rollo"
    assert body["citations"][0]["sentence"] == target
    assert_valid_citations(text, body)
