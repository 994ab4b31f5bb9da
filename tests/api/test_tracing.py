"""OpenTelemetry traces (issue #13): off by default; when on, one span per request with
children for model calls, evidence gathering and grounding, and never article text or
questions in attributes."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from service.observability import tracing
from tests.api.helpers import store
from tests.fakes.upstream import json_reply

QUESTION = "Who is the Kremlin spokesperson?"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("grounded-test", exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown_tracing()


def test_tracing_is_off_unless_configured():
    # Off: no SDK objects, and span() is one shared no-op (nothing allocated per call).
    assert not tracing.enabled()
    assert tracing.span("a") is tracing.span("b")
    assert tracing.configure_tracing("x") is False and not tracing.enabled()


async def test_a_request_is_one_trace_with_model_retrieval_and_grounding_children(
    client, upstream, sample_article, spans
):
    document = await store(client, sample_article)
    spans.clear()
    upstream.enqueue(json_reply({"answer": "Dmitry Peskov", "sentence": 17}))
    response = await client.post(
        f"/v1/documents/{document['id']}/answers",
        json={"question": QUESTION},
        headers={"x-request-id": "traced-1"},
    )
    assert response.status_code == 200
    finished = spans.get_finished_spans()
    (server,) = [s for s in finished if s.kind == SpanKind.SERVER]
    assert server.name == "POST /v1/documents/{document_id}/answers"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["request_id"] == "traced-1"
    assert server.resource.attributes["service.name"] == "grounded-test"
    children = {s.name: s for s in finished if s is not server}
    assert {"model call", "gather evidence", "grounding"} <= set(children)
    for child in children.values():
        assert child.context.trace_id == server.context.trace_id
    model = children["model call"]
    assert model.parent is not None
    assert model.attributes["llm.kind"] == "answer"
    assert model.attributes["llm.outcome"] == "ok"
    assert model.attributes["llm.prompt_version"] == response.json()["prompt_version"]
    assert model.attributes["gen_ai.request.model"] == "scripted-model"
    assert model.attributes["gen_ai.usage.input_tokens"] == 11
    assert model.attributes["gen_ai.usage.output_tokens"] == 7
    assert children["grounding"].attributes["grounding.citations"] == 1
    # Never what the client sent: no attribute carries the question or article text.
    for span in finished:
        for value in (span.attributes or {}).values():
            text = str(value)
            assert "spokesperson" not in text and "Kremlin" not in text and "Peskov" not in text


async def test_the_callers_trace_is_continued(client, spans):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    await client.get("/healthz", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    (server,) = spans.get_finished_spans()
    assert f"{server.context.trace_id:032x}" == trace_id


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, self.headers["content-type"], body))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def test_spans_go_to_the_otlp_endpoint_when_one_is_set():
    # OTEL_EXPORTER_OTLP_ENDPOINT's meaning: a base URL, spans POSTed to /v1/traces as
    # protobuf. A collector stand-in on loopback receives them.
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        assert tracing.configure_tracing("grounded-otlp", otlp_endpoint=endpoint)
        with tracing.span("work", {"items": 3}):
            pass
        tracing.shutdown_tracing()  # flushes the batch
    finally:
        server.shutdown()
        server.server_close()
    (path, content_type, body), *_ = _Collector.received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    assert b"grounded-otlp" in body and b"work" in body
