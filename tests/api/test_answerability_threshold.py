"""Answers whose evidence scores below the threshold are withheld as "not in the
article": the service's ANSWERABILITY_THRESHOLD, or a request's own min_answerability."""

from __future__ import annotations

import dataclasses

from service.app import create_app
from tests.api.helpers import api_client, sentence_with, store
from tests.fakes.upstream import json_reply

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
