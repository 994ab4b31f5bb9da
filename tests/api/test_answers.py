"""Answers: grounding, abstention, model faults, caching, against a scripted upstream."""

from __future__ import annotations

import asyncio

from tests.api.helpers import sentence_with, store
from tests.citations import assert_valid_citations
from tests.fakes.upstream import Reply, json_reply


async def test_answer_cites_the_sentence_that_contains_it(client, upstream, sample_article):
    document = await store(client, sample_article)
    target = sentence_with(document, "Dmitry Kiselyov")
    upstream.enqueue(json_reply({"answer": "Dmitry Kiselyov", "sentence": target + 1}))

    response = await client.post(
        f"/v1/documents/{document['id']}/answers", json={"question": "Who interviewed Putin?"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answerable"] is True
    assert body["answer"] == "Dmitry Kiselyov"
    assert assert_valid_citations(sample_article, body) == 1
    assert body["citations"][0]["sentence"] == target
    assert body["citations"][0]["support"] == 1.0
    assert body["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "calls": 1,
    }
    assert body["prompt_version"].startswith("answer@")
    assert body["cached"] is False


async def test_prompt_puts_article_before_question_and_asks_for_json_schema(
    client, upstream, sample_article
):
    # The shared article prefix is what lets llama.cpp/OpenAI reuse their prompt cache.
    document = await store(client, sample_article)
    upstream.enqueue(json_reply({"answer": "Putin", "sentence": 1}))
    await client.post(f"/v1/documents/{document['id']}/answers", json={"question": "Who spoke?"})

    sent = upstream.history[0]
    user = sent["messages"][-1]["content"]
    assert user.index("[") < user.index("Question: Who spoke?")
    assert user.rstrip().endswith("Question: Who spoke?")
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["model"] == "scripted-model"


async def test_wrong_sentence_id_from_the_model_is_not_trusted(client, upstream, sample_article):
    document = await store(client, sample_article)
    target = sentence_with(document, "Radoslaw Sikorski")
    upstream.enqueue(json_reply({"answer": "Radoslaw Sikorski", "sentence": 1}))

    body = (
        await client.post(
            f"/v1/documents/{document['id']}/answers",
            json={"question": "Which Polish minister said NATO troops were not unthinkable?"},
        )
    ).json()

    assert body["answerable"] is True
    assert [c["sentence"] for c in body["citations"]] == [target]
    assert_valid_citations(sample_article, body)


async def test_sentence_id_out_of_range_is_ignored(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(json_reply({"answer": "Dmitry Peskov", "sentence": 999}))
    body = (
        await client.post(
            f"/v1/documents/{document['id']}/answers",
            json={"question": "Who is the Kremlin spokesperson?"},
        )
    ).json()
    assert body["answerable"] is True
    assert body["citations"][0]["sentence"] == sentence_with(document, "Kremlin spokesperson")
    assert_valid_citations(sample_article, body)


async def test_answer_the_article_does_not_contain_is_not_passed_on(
    client, upstream, sample_article
):
    document = await store(client, sample_article)
    upstream.enqueue(json_reply({"answer": "Olaf Scholz", "sentence": 3}))
    body = (
        await client.post(
            f"/v1/documents/{document['id']}/answers",
            json={"question": "Who is the German chancellor?"},
        )
    ).json()
    assert body == body | {"answerable": False, "answer": None, "citations": []}


async def test_empty_answer_means_not_in_the_article(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(json_reply({"answer": "", "sentence": 0}))
    body = (
        await client.post(
            f"/v1/documents/{document['id']}/answers", json={"question": "What is the GDP of Peru?"}
        )
    ).json()
    assert body["answerable"] is False and body["answer"] is None and body["citations"] == []


async def test_answer_unrelated_to_the_question_is_an_abstention(client, upstream, sample_article):
    # "Ukraine" is in the article, but the evidence sentence has nothing to do with
    # the question: not a grounded answer.
    document = await store(client, sample_article)
    upstream.enqueue(json_reply({"answer": "Ukraine", "sentence": 2}))
    body = (
        await client.post(
            f"/v1/documents/{document['id']}/answers",
            json={"question": "Which football club won the 1998 championship?"},
        )
    ).json()
    assert body["answerable"] is False


async def test_model_spelling_is_replaced_by_the_article_text(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(json_reply({"answer": "dmitry  kiselyov.", "sentence": 0}))
    body = (
        await client.post(
            f"/v1/documents/{document['id']}/answers", json={"question": "Who interviewed Putin?"}
        )
    ).json()
    assert body["answer"] == "Dmitry Kiselyov"


async def test_truncated_json_reply_is_repaired(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(Reply(content='{"answer": "Emmanuel Macron', finish_reason="length"))
    body = (
        await client.post(
            f"/v1/documents/{document['id']}/answers",
            json={"question": "Which French president spoke?"},
        )
    ).json()
    assert body["answerable"] is True
    assert body["answer"] == "Emmanuel Macron"
    assert_valid_citations(sample_article, body)
    assert upstream.calls == 1  # repaired locally, not re-asked


async def test_raw_newline_inside_json_string_is_accepted(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(Reply(content='{"answer": "Dmitry\nPeskov", "sentence": 12}'))
    body = (
        await client.post(
            f"/v1/documents/{document['id']}/answers",
            json={"question": "Who is the Kremlin spokesperson?"},
        )
    ).json()
    assert body["answer"] == "Dmitry Peskov"


async def test_refusal_twice_is_a_502_problem(client, upstream, sample_article):
    document = await store(client, sample_article)
    refusal = Reply(content="I'm sorry, but I can't help with that.")
    upstream.enqueue(refusal, refusal)
    response = await client.post(
        f"/v1/documents/{document['id']}/answers", json={"question": "Who spoke?"}
    )
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/model-bad-output")
    assert upstream.calls == 2  # asked once more, then gave up


async def test_upstream_server_error_is_a_502_problem(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(Reply(status=500))
    response = await client.post(
        f"/v1/documents/{document['id']}/answers", json={"question": "Who spoke?"}
    )
    assert response.status_code == 502
    assert "HTTP 500" in response.json()["detail"]


async def test_upstream_garbage_body_is_a_502_problem(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(Reply(raw_body=b"<html>bad gateway</html>", status=200))
    response = await client.post(
        f"/v1/documents/{document['id']}/answers", json={"question": "Who spoke?"}
    )
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_identical_question_is_served_from_cache(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(json_reply({"answer": "Dmitry Peskov", "sentence": 12}))
    url = f"/v1/documents/{document['id']}/answers"
    first = (await client.post(url, json={"question": "Who is the Kremlin spokesperson?"})).json()
    second = (
        await client.post(url, json={"question": "  Who is the   Kremlin spokesperson? "})
    ).json()
    assert upstream.calls == 1
    assert first["cached"] is False and second["cached"] is True
    assert {**second, "cached": False} == {**first, "question": second["question"]}


async def test_concurrent_identical_questions_make_one_model_call(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(json_reply({"answer": "Dmitry Peskov", "sentence": 12}, delay_s=0.3))
    url = f"/v1/documents/{document['id']}/answers"
    responses = await asyncio.gather(
        *(
            client.post(url, json={"question": "Who is the Kremlin spokesperson?"})
            for _ in range(20)
        )
    )
    assert [r.status_code for r in responses] == [200] * 20
    assert upstream.calls == 1
    assert sum(not r.json()["cached"] for r in responses) == 1


async def test_ask_one_shot_with_text_and_with_document_id(client, upstream, sample_article):
    upstream.enqueue(json_reply({"answer": "Dmitry Peskov", "sentence": 12}))
    first = await client.post(
        "/v1/ask", json={"text": sample_article, "question": "Who is the Kremlin spokesperson?"}
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["document_id"].startswith("doc_")
    assert_valid_citations(sample_article, body)
    upstream.enqueue(json_reply({"answer": "Emmanuel Macron", "sentence": 10}))
    second = await client.post(
        "/v1/ask",
        json={"document_id": body["document_id"], "question": "Which French president spoke?"},
    )
    assert second.status_code == 200
    assert second.json()["answer"] == "Emmanuel Macron"


async def test_answers_are_cached_per_evidence_policy(settings, upstream, sample_article):
    """Replicas sharing a result cache may run with other context settings: an answer
    made with other retrieval budgets is not served from the cache."""
    import dataclasses

    from service.app import create_app
    from tests.api.helpers import api_client

    app = create_app(settings)
    async with api_client(app) as client:
        document = await store(client, sample_article)
        target = sentence_with(document, "Dmitry Kiselyov")
        upstream.default = json_reply({"answer": "Dmitry Kiselyov", "sentence": target + 1})
        url = f"/v1/documents/{document['id']}/answers"
        question = {"question": "Who interviewed Putin?"}
        assert (await client.post(url, json=question)).json()["cached"] is False
        assert (await client.post(url, json=question)).json()["cached"] is True

        pipeline = app.state.pipeline
        shipped = pipeline._evidence
        for changed in (
            dataclasses.replace(shipped, retrieval_budget=shipped.retrieval_budget + 1),
            dataclasses.replace(shipped, whole_budget=shipped.whole_budget + 1),
        ):
            pipeline._evidence = changed
            assert (await client.post(url, json=question)).json()["cached"] is False
        pipeline._evidence = shipped
        assert (await client.post(url, json=question)).json()["cached"] is True
    assert len(upstream.history) == 3
