"""Fuzz the HTTP API from its own OpenAPI document with schemathesis.

The real app runs under uvicorn on loopback, its model is the scripted upstream
answering one valid reply to every call. Every 5xx is therefore a service bug
(not a model failure), and every documented response must match its schema.
Bounded and deterministic: 25 examples per operation and mode, derandomized.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from service.app import create_app
from service.settings import Settings
from tests.fakes.upstream import ScriptedUpstream, json_reply

MAX_EXAMPLES = 25
# The two checks the contract asks for: no 5xx, and responses match the schema.
CHECKS = [not_a_server_error, response_schema_conformance]
ARTICLE = (
    "Tucker Carlson interviewed Vladimir Putin in Moscow. "
    "Putin spoke for two hours about the history of Russia. "
    "Poland later clarified its position on the war."
)


def valid_bodies(known_id: str) -> dict[str, list[dict[str, Any]]]:
    """Bodies that pass the rules the schema cannot state (non-blank text, exactly one of
    text/document_id): random ones nearly always get a 422, so without these the 200
    responses of the model-backed operations would hardly be checked against the schema."""
    return {
        "POST /v1/documents": [{"text": ARTICLE + " Extra.", "title": "T", "url": "https://x"}],
        "POST /v1/summarize": [
            {"text": ARTICLE, "length": length, "format": fmt, "focus": "Putin"}
            for length in ("short", "medium", "long")
            for fmt in ("paragraph", "bullets")
        ],
        "POST /v1/ask": [
            {"question": "Who was interviewed?", "text": ARTICLE},
            {"question": "What did Poland clarify?", "document_id": known_id},
        ],
        "POST /v1/documents/{document_id}/summary": [{}, {"length": "long", "format": "bullets"}],
        "POST /v1/documents/{document_id}/answers": [{"question": "Who spoke for two hours?"}],
    }


@pytest.fixture
def service_url(settings: Settings, upstream: ScriptedUpstream) -> Iterator[str]:
    """The real app under uvicorn on a loopback port, backed by the scripted model."""
    # One reply that reads as an answer and as a summary, so that every model call
    # succeeds and any 5xx is the service's own fault.
    upstream.default = json_reply(
        {
            "answer": "Putin",
            "sentence": 1,
            "sentences": [{"text": "Tucker Carlson interviewed Vladimir Putin.", "sources": [1]}],
        }
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "service did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _untuple(node: Any) -> Any:
    """Spell 3.1 tuples (`prefixItems`) as bounded arrays of the one item type.

    schemathesis 4.32 rewrites `prefixItems` to the draft-4 `items: [...]` in response
    schemas and then rejects that under its 2020-12 validator ("Invalid Schema Object"),
    although the served document is valid 3.1. Same-typed pairs (sentence_spans) lose
    nothing: the length and the item type are still checked.
    """
    if isinstance(node, list):
        return [_untuple(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _untuple(value) for key, value in node.items()}
    prefix = out.get("prefixItems")
    if isinstance(prefix, list) and prefix and all(p == prefix[0] for p in prefix):
        del out["prefixItems"]
        out.setdefault("items", prefix[0])
        out.setdefault("minItems", len(prefix))
        out.setdefault("maxItems", len(prefix))
    return out


def _fuzz(strategy: Any, base_url: str, failures: list[str], label: str) -> Callable[[], None]:
    """One bounded, derandomized Hypothesis run; its first failure goes into `failures`."""

    @given(case=strategy)
    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,  # same examples on every run: a failure here is reproducible
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: keeps the run bounded
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)

    def wrapped() -> None:
        try:
            run()
        except Unsatisfiable:
            # Negative mode has nothing to break when every input is valid (no body,
            # string-only path parameters): there is no request to send, not a failure.
            pass
        # Collect every operation's failure, not only the first; schemathesis raises its
        # check failures as a FailureGroup, which is a BaseExceptionGroup.
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"--- {label}\n{exc}")

    return wrapped


def test_api_conforms_to_its_openapi_schema_under_fuzzing(service_url: str) -> None:
    served = httpx.get(f"{service_url}/schema/openapi.json", timeout=30)
    assert served.status_code == 200, served.text
    schema = schemathesis.openapi.from_dict(_untuple(served.json()))
    operations = [result.ok() for result in schema.get_all_operations()]
    # The schema must describe the API we mean to fuzz (guards against an empty run).
    labels = {op.label for op in operations}
    assert {"POST /v1/documents", "POST /v1/ask", "POST /v1/summarize"} <= labels, labels

    # A stored document, so the {document_id} operations also reach their handlers,
    # not only the 404 branch random ids take.
    created = httpx.post(f"{service_url}/v1/documents", json={"text": ARTICLE}, timeout=30)
    assert created.status_code in (200, 201), created.text
    known_id = created.json()["id"]

    failures: list[str] = []
    bodies = valid_bodies(known_id)
    started = time.monotonic()
    # DELETE last so it cannot remove the stored document before the others use it.
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            _fuzz(strategy, service_url, failures, f"{operation.label} [{mode.value}]")()
            has_id = any(p.name == "document_id" for p in operation.path_parameters)
            if has_id and mode.is_positive:
                known = operation.as_strategy(
                    generation_mode=mode, path_parameters={"document_id": known_id}
                )
                _fuzz(known, service_url, failures, f"{operation.label} [stored id]")()
            if operation.label in bodies and mode.is_positive:
                path = {"document_id": known_id} if has_id else None
                valid = st.sampled_from(bodies[operation.label]).flatmap(
                    lambda body, op=operation, path=path: op.as_strategy(
                        body=body, path_parameters=path
                    )
                )
                _fuzz(valid, service_url, failures, f"{operation.label} [valid body]")()
    elapsed = time.monotonic() - started

    assert not failures, "\n\n".join(failures)
    assert elapsed < 60, f"fuzzing took {elapsed:.1f}s; keep it bounded"
