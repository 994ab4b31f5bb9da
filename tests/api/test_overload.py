"""Bounded work towards the model: beyond the limit, 429 with Retry-After, not a growing queue."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from service.app import create_app
from service.errors import Overloaded
from service.llm.openai_client import OpenAICompatibleLLM
from service.pipeline.ingest import make_document
from service.pipeline.pipeline import Pipeline
from tests.api.helpers import api_client, assert_problem, store
from tests.fakes.upstream import json_reply


async def test_work_beyond_the_limit_is_refused_with_retry_after(
    settings, upstream, sample_article
):
    # The real pipeline and openai client against the scripted upstream.
    limited = replace(settings, max_pending_requests=2, llm_concurrency=1)
    llm = OpenAICompatibleLLM(
        base_url=upstream.url,
        api_key=None,
        model="scripted",
        timeout_s=5,
        max_retries=0,
        concurrency=1,
        structured_output="json_schema",
    )
    pipeline = Pipeline(llm, limited)
    document = make_document(sample_article, 256, 32)
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17}, delay_s=0.3)
    results = await asyncio.gather(
        *(pipeline.answer(document, f"Who is the spokesperson, take {i}?") for i in range(5)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert len(refused) == 3 and upstream.calls == 2
    assert refused[0].status_code == 429 and int(refused[0].headers["Retry-After"]) >= 1
    # Identical work already in flight is joined, never refused.
    same = await asyncio.gather(
        *(pipeline.answer(document, "Who is the Kremlin spokesperson?") for _ in range(5))
    )
    assert [a.answer for a in same] == ["Dmitry Peskov"] * 5
    await llm.aclose()


async def test_overloaded_is_a_429_problem_with_retry_after_over_http(
    settings, upstream, sample_article
):
    limited = replace(settings, max_pending_requests=1, llm_concurrency=1)
    upstream.default = json_reply({"answer": "Dmitry Peskov", "sentence": 17}, delay_s=0.3)
    async with api_client(create_app(limited)) as client:
        document = await store(client, sample_article)
        url = f"/v1/documents/{document['id']}/answers"
        responses = await asyncio.gather(
            *(client.post(url, json={"question": f"Who spoke, take {i}?"}) for i in range(3))
        )
    assert sorted(r.status_code for r in responses) == [200, 429, 429]
    refused = next(r for r in responses if r.status_code == 429)
    assert_problem(refused, 429, "overloaded")
    assert int(refused.headers["retry-after"]) >= 1
