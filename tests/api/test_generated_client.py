"""A client generated from the served OpenAPI document works against the real service
(issue #16): openapi-python-client writes it into a temporary directory (nothing generated
is committed), and the test uses it as an integrating team would: store, read, ask,
summarise, stream, delete, and every documented error parsed as the documented Problem.

The service runs under uvicorn on loopback with the scripted model, API keys and a rate
limit configured, so its document is the fullest one (401 and 429 on every /v1/
operation) and the client is generated from that.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.settings import Settings
from tests.api.helpers import parse_sse, served
from tests.citations import assert_valid_citations
from tests.fakes.upstream import Reply, ScriptedUpstream, json_reply

KEY, OTHER_KEY = "key-round-trip", "key-rate-limited"
REQUESTS_PER_MINUTE = 30  # per key: the round trip stays under it, OTHER_KEY goes over
MAX_TEXT_CHARS = 3_000  # above the sample article (2,477), so 413 is cheap to provoke
PACKAGE = "grounded_client"


@pytest.fixture
def service(settings: Settings, upstream: ScriptedUpstream) -> Iterator[str]:
    guarded = replace(
        settings,
        api_keys=frozenset({KEY, OTHER_KEY}),
        rate_limit=f"{REQUESTS_PER_MINUTE}/minute",
        max_text_chars=MAX_TEXT_CHARS,
    )
    with served(create_app(guarded)) as url:
        yield url


@pytest.fixture
def generated(service: str, tmp_path: Path) -> Iterator[Callable[[str], ModuleType]]:
    """The generated package: generated(module) imports grounded_client.<module>."""
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{service}/schema/openapi.json").content)
    config = tmp_path / "config.yaml"
    # No formatter hooks: ruff need not be on PATH, and the code's looks are not tested.
    config.write_text("post_hooks: []\n")
    command = [
        sys.executable, "-m", "openapi_python_client", "generate",
        "--path", str(document),
        "--output-path", str(tmp_path / PACKAGE),
        "--meta", "none",
        "--config", str(config),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    # The generator skips what it cannot read, with a warning: nothing may be skipped.
    assert "WARNING" not in report and "Unable to" not in report, report
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda module: importlib.import_module(f"{PACKAGE}.{module}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _sentence_with(detail: Any, article: str, phrase: str) -> int:
    """1-based id (as the model sees it) of the first sentence containing phrase."""
    for i, (start, end) in enumerate(detail.sentence_spans):
        if phrase in article[start:end]:
            return i + 1
    raise AssertionError(phrase)


def test_a_generated_client_stores_asks_summarises_streams_and_deletes(
    generated: Callable[[str], ModuleType],
    service: str,
    upstream: ScriptedUpstream,
    sample_article: str,
) -> None:
    client_module, models = generated("client"), generated("models")
    documents, answers, summaries = (
        generated("api.documents.create_document"),
        generated("api.answers.answer_question"),
        generated("api.summaries.summarize_document"),
    )
    client = client_module.AuthenticatedClient(
        base_url=service, token=KEY, raise_on_unexpected_status=True
    )

    created = documents.sync_detailed(
        client=client, body=models.DocumentIn(text=sample_article, title="The interview")
    )
    again = documents.sync_detailed(client=client, body=models.DocumentIn(text=sample_article))
    assert created.status_code == 201 and isinstance(created.parsed, models.DocumentOut)
    assert again.status_code == 200 and again.parsed.id == created.parsed.id
    doc_id = created.parsed.id

    detail = generated("api.documents.get_document").sync(client=client, document_id=doc_id)
    assert isinstance(detail, models.DocumentDetail)
    assert detail.text == sample_article and detail.title == "The interview"
    assert all(len(span) == 2 for span in detail.sentence_spans)

    interviewer = _sentence_with(detail, sample_article, "Dmitry Kiselyov")
    upstream.enqueue(json_reply({"answer": "Dmitry Kiselyov", "sentence": interviewer}))
    answer = answers.sync(
        client=client,
        document_id=doc_id,
        body=models.AnswerRequest(question="Who interviewed Putin?"),
    )
    assert isinstance(answer, models.Answer)
    assert answer.answerable and answer.answer == "Dmitry Kiselyov"
    assert assert_valid_citations(sample_article, answer.to_dict()) >= 1
    # The one-shot form, by id: the same question is served from the result cache.
    asked = generated("api.answers.ask").sync(
        client=client,
        body=models.AskAboutDocument(question="Who interviewed Putin?", document_id=doc_id),
    )
    assert isinstance(asked, models.Answer) and asked.cached and asked.answer == answer.answer

    poland = _sentence_with(detail, sample_article, "Poland")
    upstream.enqueue(
        json_reply({"sentences": [{"text": "Poland will not send troops.", "sources": [poland]}]})
    )
    summary = summaries.sync(
        client=client,
        document_id=doc_id,
        body=models.SummaryRequest(length=models.SummaryRequestLength.SHORT),
    )
    assert isinstance(summary, models.Summary) and summary.sentences
    assert assert_valid_citations(sample_article, summary.to_dict()) >= 1

    # Server-sent events are not parsed by the generated code: its httpx client sends the
    # request, and the `result` event's data is the documented JSON body.
    upstream.enqueue(json_reply({"answer": "Dmitry Kiselyov", "sentence": interviewer}))
    streamed = client.get_httpx_client().post(
        f"/v1/documents/{doc_id}/answers",
        json=models.AnswerRequest(question="Which journalist interviewed Putin?").to_dict(),
        headers={"Accept": "text/event-stream"},
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(streamed.text)
    assert {event for event, _ in events[:-1]} == {"delta"} and events[-1][0] == "result"
    final = models.Answer.from_dict(json.loads(events[-1][1]))
    assert final.answer == "Dmitry Kiselyov"

    deleted = generated("api.documents.delete_document").sync_detailed(
        client=client, document_id=doc_id
    )
    assert deleted.status_code == 204
    gone = generated("api.documents.get_document").sync(client=client, document_id=doc_id)
    assert isinstance(gone, models.Problem) and gone.status == 404


class _Rewrite(httpx.HTTPTransport):
    """Sends what a broken client or proxy would, in place of the generated request."""

    def __init__(self, rewrite: Callable[[httpx.Request], httpx.Request]) -> None:
        super().__init__()
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return super().handle_request(self.rewrite(request))


def _as_text_plain(request: httpx.Request) -> httpx.Request:
    headers = {**request.headers, "content-type": "text/plain"}
    return httpx.Request(request.method, request.url, headers=headers, content=request.content)


def _truncated(request: httpx.Request) -> httpx.Request:
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return httpx.Request(request.method, request.url, headers=headers, content=b'{"text": "A')


def test_every_documented_error_comes_back_as_the_documented_problem(
    generated: Callable[[str], ModuleType],
    service: str,
    upstream: ScriptedUpstream,
    sample_article: str,
) -> None:
    client_module, models = generated("client"), generated("models")
    create = generated("api.documents.create_document")
    get_document = generated("api.documents.get_document")
    ask = generated("api.answers.ask")

    def authenticated(key: str = KEY, **httpx_args: Any) -> Any:
        return client_module.AuthenticatedClient(
            base_url=service, token=key, raise_on_unexpected_status=True, httpx_args=httpx_args
        )

    def problem(response: Any, status: int, problem_type: str) -> Any:
        assert response.status_code == status, response.content
        assert response.headers["content-type"].startswith("application/problem+json")
        parsed = response.parsed
        assert isinstance(parsed, models.Problem), parsed
        assert parsed.status == status and parsed.type_.endswith(f"/{problem_type}")
        return parsed

    client = authenticated()
    problem(
        get_document.sync_detailed(client=client, document_id="doc_none"), 404, "document-not-found"
    )

    blank = problem(
        ask.sync_detailed(client=client, body=models.AskAboutText(question=" ", text="A text.")),
        422,
        "invalid-field",
    )
    assert [(e.field, e.message) for e in blank.errors] == [("question", "question is empty")]
    assert all(isinstance(e, models.FieldError) for e in blank.errors)

    body = models.DocumentIn(text=sample_article)
    plain = authenticated(transport=_Rewrite(_as_text_plain))
    problem(create.sync_detailed(client=plain, body=body), 415, "unsupported-media-type")
    broken = authenticated(transport=_Rewrite(_truncated))
    problem(create.sync_detailed(client=broken, body=body), 400, "malformed-json")

    too_long = models.DocumentIn(text="word " * (MAX_TEXT_CHARS // 5 + 1))
    problem(create.sync_detailed(client=client, body=too_long), 413, "text-too-large")

    # The model endpoint fails (DEGRADED_MODE is off in these tests): 502.
    upstream.enqueue(Reply(status=500))
    failed = ask.sync_detailed(
        client=client, body=models.AskAboutText(question="Who?", text=sample_article)
    )
    problem(failed, 502, "model-unavailable")

    anonymous = client_module.Client(base_url=service, raise_on_unexpected_status=True)
    refused = create.sync_detailed(client=anonymous, body=body)
    problem(refused, 401, "unauthorized")
    assert refused.headers["www-authenticate"] == "Bearer"
    problem(
        create.sync_detailed(client=authenticated("no-such-key"), body=body), 401, "unauthorized"
    )

    limited = authenticated(OTHER_KEY)
    for _ in range(REQUESTS_PER_MINUTE):
        get_document.sync_detailed(client=limited, document_id="doc_none")
    over = get_document.sync_detailed(client=limited, document_id="doc_none")
    problem(over, 429, "rate-limited")
    assert int(over.headers["retry-after"]) >= 1
