"""Answers whose evidence scores below the threshold are withheld as "not in the
article": the service's ANSWERABILITY_THRESHOLD, or a request's own min_answerability."""

from __future__ import annotations

import dataclasses
import math

import pytest

from service.app import create_app
from tests.api.helpers import api_client, sentence_with, store
from tests.fakes.upstream import Reply, json_reply

QUESTION = {"question": "Who interviewed Putin?"}


async def test_a_request_can_ask_for_more_certainty_than_the_default(
    client, upstream, sample_article
):
    document = await store(client, sample_article)
    target = sentence_with(document, "Dmitry Kiselyov")
    upstream.default = json_reply({"answer": "Dmitry Kiselyov", "sentence": target + 1})
    url = f"/v1/documents/{document['id']}/answers"

    given = (await client.post(url, json={**QUESTION, "min_answerability": 0})).json()
    assert given["answerable"] is True
    score = given["answerability"]
    assert 0 < score < 1

    strict = await client.post(url, json={**QUESTION, "min_answerability": score + 0.0001})
    withheld = strict.json()
    assert strict.status_code == 200
    assert withheld["answerable"] is False
    assert withheld["answer"] is None and withheld["citations"] == []
    assert withheld["answer_start"] is None and withheld["answer_end"] is None
    assert withheld["answerability"] == score  # the score is still reported

    lenient = (await client.post(url, json={**QUESTION, "min_answerability": score})).json()
    assert lenient["answerable"] is True and lenient["answer"] == "Dmitry Kiselyov"


async def test_the_service_threshold_applies_when_the_request_sets_none(
    settings, upstream, sample_article
):
    upstream.default = json_reply({"answer": "Dmitry Kiselyov", "sentence": 1})
    scores = {}
    for threshold in (0.0, 1.0):
        app = create_app(dataclasses.replace(settings, answerability_threshold=threshold))
        async with api_client(app) as client:
            document = await store(client, sample_article)
            url = f"/v1/documents/{document['id']}/answers"
            body = (await client.post(url, json=QUESTION)).json()
        scores[threshold] = body["answerability"]
        assert body["answerable"] is (threshold == 0.0), body
    assert scores[0.0] == scores[1.0] > 0


@pytest.fixture
async def checking(settings):
    """A client of the service with ANSWER_CHECK on."""
    app = create_app(dataclasses.replace(settings, answer_check=True))
    async with api_client(app) as client:
        yield client


def _check_reply(yes: float) -> Reply:
    """The model's one-token reply to the answer check, with P(yes) = yes."""
    return Reply(
        content="yes" if yes >= 0.5 else "no",
        top_logprobs={"yes": math.log(yes), "no": math.log(1 - yes), "{": math.log(1e-4)},
    )


async def _stored_with_answer(client, article: str) -> tuple[str, Reply]:
    """The stored article's answers URL, and the model's right answer to QUESTION."""
    document = await store(client, article)
    target = sentence_with(document, "Dmitry Kiselyov")
    return (
        f"/v1/documents/{document['id']}/answers",
        json_reply({"answer": "Dmitry Kiselyov", "sentence": target + 1}),
    )


async def test_the_models_check_of_its_answer_moves_the_score(checking, upstream, sample_article):
    client = checking
    url, answer = await _stored_with_answer(client, sample_article)

    upstream.enqueue(answer)
    unchecked = (await client.post(url, json={**QUESTION, "min_answerability": 0})).json()
    assert len(upstream.history) == 1  # nothing can be withheld at 0: no check asked

    scores = {}
    for yes, threshold in ((0.97, 0.0001), (0.03, 0.0002)):
        upstream.enqueue(answer, _check_reply(yes))
        body = (await client.post(url, json={**QUESTION, "min_answerability": threshold})).json()
        scores[yes] = body["answerability"]  # reported whether or not it is withheld
        assert body["answerable"] is (scores[yes] >= threshold)
        check = upstream.history[-1]
        assert check["logprobs"] is True and check["top_logprobs"] > 1
        assert check["max_tokens"] == 1
        # The next turn of the answer's conversation: the server's cached prefix serves it.
        assert check["messages"][:-2] == upstream.history[-2]["messages"]
        assert check["messages"][-2] == {"role": "assistant", "content": answer.content}
        assert QUESTION["question"] in check["messages"][-1]["content"]
    assert scores[0.03] < unchecked["answerability"] < scores[0.97]

    # A threshold between the two: the doubted answer is withheld, the confirmed one kept.
    assert scores[0.97] - scores[0.03] > 0.01
    middle = (scores[0.03] + scores[0.97]) / 2
    for yes, answerable in ((0.03, False), (0.97, True)):
        upstream.enqueue(answer, _check_reply(yes))
        body = (await client.post(url, json={**QUESTION, "min_answerability": middle})).json()
        assert body["answerable"] is answerable, (yes, body)
        middle += 0.001  # a new cache key (thresholds are keyed to 4 decimals)


async def test_an_endpoint_without_logprobs_is_asked_once_and_answers_still_come(
    checking, upstream, sample_article
):
    client = checking
    upstream.refuses_logprobs = True
    url, upstream.default = await _stored_with_answer(client, sample_article)
    unchecked = (await client.post(url, json={**QUESTION, "min_answerability": 0})).json()
    for threshold in (0.01, 0.02, 0.03):
        body = (await client.post(url, json={**QUESTION, "min_answerability": threshold})).json()
        assert body["answerable"] is True
        assert body["answerability"] == unchecked["answerability"]
    assert len(upstream.rejected) == 1  # refused once, then not asked again
    assert not any(r.get("logprobs") for r in upstream.history)


async def test_a_failed_check_leaves_the_answer_scored_from_its_evidence(
    checking, upstream, sample_article
):
    client = checking
    url, answer = await _stored_with_answer(client, sample_article)
    upstream.enqueue(answer)
    unchecked = (await client.post(url, json={**QUESTION, "min_answerability": 0})).json()
    upstream.enqueue(answer, Reply(status=400))  # the check is refused outright
    body = (await client.post(url, json={**QUESTION, "min_answerability": 0.01})).json()
    assert body["answerable"] is True
    assert body["answerability"] == unchecked["answerability"]


async def test_without_answer_check_no_check_is_asked(client, upstream, sample_article):
    url, upstream.default = await _stored_with_answer(client, sample_article)
    body = (await client.post(url, json={**QUESTION, "min_answerability": 0.01})).json()
    assert body["answerable"] is True
    assert len(upstream.history) == 1 and not upstream.history[0].get("logprobs")


async def test_a_new_answerability_model_is_not_served_the_old_ones_cached_verdicts(
    client, upstream, sample_article, monkeypatch
):
    from service.grounding import answerability
    from service.pipeline import pipeline

    document = await store(client, sample_article)
    target = sentence_with(document, "Dmitry Kiselyov")
    upstream.default = json_reply({"answer": "Dmitry Kiselyov", "sentence": target + 1})
    url = f"/v1/documents/{document['id']}/answers"
    first = (await client.post(url, json=QUESTION)).json()
    again = (await client.post(url, json=QUESTION)).json()
    assert first["cached"] is False and again["cached"] is True

    shipped = answerability.load_model()
    refitted = dataclasses.replace(shipped, provenance={**shipped.provenance, "fitted_at": "later"})
    monkeypatch.setattr(pipeline, "load_model", lambda: refitted)
    after = (await client.post(url, json=QUESTION)).json()
    assert after["cached"] is False
    assert len(upstream.history) == 2
