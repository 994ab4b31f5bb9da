"""Inputs an attacker or a careless client sends: a 4xx problem or a proper answer,
never a 500, and every error a client sees is logged once with its cause (issue #17)."""

from __future__ import annotations

import json

import pytest

from service.app import create_app
from tests.api.helpers import api_client, assert_problem, captured_logs, parse_sse, store
from tests.citations import assert_valid_citations
from tests.fakes.llm import FakeLLM
from tests.fakes.upstream import Reply, json_reply

POST_ROUTES = [
    "/v1/documents",
    "/v1/documents/doc_x/summary",
    "/v1/documents/doc_x/answers",
    "/v1/summarize",
    "/v1/ask",
]


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        "[" * 2000 + "]" * 2000,
        '{"a":' * 1000 + "1" + "}" * 1000,
        '{"text": ' + "[" * 3000 + "]" * 3000 + "}",
    ],
    ids=["arrays", "objects", "inside-a-field"],
)
async def test_deeply_nested_json_is_a_400_not_a_recursion_error(client, route, body):
    response = await client.post(route, content=body, headers={"content-type": "application/json"})
    problem = assert_problem(response, 400, "malformed-json")
    assert "nested too deeply" in problem["detail"]


@pytest.mark.parametrize(
    "filler",
    [
        "!!! ??? ... --- *** ",
        "a b c d e f g h i j ",
        "12 345 6789 2024 7 ",
        "😀 🎉 🚀 ✨ 🔥 ",
        "the of and to in is it that was for ",
    ],
    ids=["punctuation", "single-letters", "digits", "emoji", "stopwords"],
)
async def test_long_article_without_indexable_words_still_answers(client, upstream, filler):
    # Long enough for the retrieval path (over CONTEXT_BUDGET_TOKENS), yet BM25 finds
    # no word to index in it.
    text = ". ".join(filler.strip() for _ in range(900)) + "."
    upstream.default = json_reply({"answer": "nothing", "sentence": 1})
    response = await client.post("/v1/ask", json={"text": text, "question": "What happened?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid_citations(text, body)
    summary = await client.post("/v1/summarize", json={"text": text, "length": "short"})
    assert summary.status_code == 200, summary.text
    assert_valid_citations(text, summary.json())


@pytest.mark.parametrize("path", ["/static/%00", "/static/app.css%00.js", "/static/%00/x"])
async def test_nul_in_a_static_path_is_a_404(client, path):
    assert_problem(await client.get(path), 404)


async def test_a_failed_stream_is_logged_with_its_cause(client, upstream, sample_article):
    document = await store(client, sample_article)
    upstream.enqueue(Reply(status=500), Reply(status=500))
    with captured_logs() as records:
        response = await client.post(
            f"/v1/documents/{document['id']}/answers",
            json={"question": "Who is the Kremlin spokesperson?"},
            headers={"accept": "text/event-stream"},
        )
    events = parse_sse(response.text)
    assert events[-1][0] == "error" and json.loads(events[-1][1])["status"] == 502
    failures = [r for r in records if "model call failed" in r.getMessage()]
    assert len(failures) == 1
    assert "HTTP 500" in failures[0].getMessage()


class _Broken(FakeLLM):
    async def complete(self, *args, **kwargs):  # type: ignore[override]
        raise RuntimeError("a bug in our own code")


@pytest.mark.injects_a_bug
@pytest.mark.parametrize("stream", [False, True])
async def test_an_unexpected_error_reaches_the_log_with_its_traceback(
    settings, sample_article, stream
):
    headers = {"accept": "text/event-stream"} if stream else {}
    async with api_client(create_app(settings, llm=_Broken())) as client:
        with captured_logs() as records:
            response = await client.post(
                "/v1/ask",
                json={"text": sample_article, "question": "Who?"},
                headers=headers,
            )
    if stream:
        problem = json.loads(parse_sse(response.text)[-1][1])
    else:
        problem = assert_problem(response, 500, "internal-error")
    assert problem["status"] == 500 and "a bug in our own code" not in response.text
    logged = [r for r in records if r.exc_info is not None]
    assert len(logged) == 1
    assert "a bug in our own code" in str(logged[0].exc_info[1])
