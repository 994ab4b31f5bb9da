"""Where the service's per-request CPU goes, measured in-process where preemption cannot blur it.

The real app runs in-process with an instant model, against the minimal app with the
same instant model: everything the service adds except the model call. cProfile of that
same real path gives each step's share (selection, prompt, parsing, grounding...), so
the breakdown cannot drift from what the service does.

What issue #13 added to every request (request id, access line, request metrics: the
RequestObserver; model-call metrics: ObservedLLM) is measured twice: each piece with and
without, around a stand-in that does nothing (stable to a microsecond); and the whole app
without them beside the app with them (the honest sum, but on a shared machine its noise
is larger than the difference).
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import logging
import os
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec

from bench.common import sample_article
from bench.corpus import document_of
from bench.inprocess import ANSWER_REPLY
from bench.minimal_app import create_minimal_app
from bench.overhead import QUESTION
from service.api.observe import RequestObserver
from service.app import create_app
from service.llm.base import ChatMessage, Completion, DeltaCallback, OutputSchema
from service.llm.observed import ObservedLLM
from service.observability.logs import TEXT_FORMAT, RequestIdFilter
from service.observability.metrics import model_call
from service.pipeline.context import render_numbered
from service.retrieval.index import DocumentIndex
from service.settings import Settings

REPLY = json.dumps(ANSWER_REPLY)


class InstantLLM:
    """A model that answers at once, without a network: isolates the service's own work."""

    model = "scripted"

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        schema: OutputSchema | None = None,
        on_delta: DeltaCallback | None = None,
        top_logprobs: int = 0,
    ) -> Completion:
        return Completion(content=REPLY, model=self.model, prompt_tokens=1, completion_tokens=1)

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


async def _interleaved_per_call_us(
    fns: dict[str, Callable[[int], Awaitable[Any]]], calls: int, rounds: int = 10
) -> dict[str, float]:
    """CPU µs per call of each fn: short batches taken in turn (order alternating), the
    best batch of each. Two sides a few percent apart need this: measured one after the
    other, or by the wall clock, the machine's load moves them more than that."""
    batch = max(1, calls // rounds)
    best = dict.fromkeys(fns, float("inf"))
    names = list(fns)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            started = time.process_time()
            for i in range(batch):
                await fns[name](i)
            best[name] = min(best[name], time.process_time() - started)
    return {name: seconds / batch * 1e6 for name, seconds in best.items()}


async def asgi_post(app: Any, path: str, body: bytes) -> tuple[int, bytes]:
    """One POST straight into an ASGI app, in this thread and loop (no client, no sockets):
    what remains is the app's own work, and cProfile sees all of it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a disconnect would only come if the app waited for it
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _answer_at_once(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _pieces_us(calls: int) -> dict[str, float]:
    """CPU µs per request of the observer and of ObservedLLM, each with minus without."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/documents/doc_0/answers",
        "raw_path": b"/v1/documents/doc_0/answers",
        "headers": [(b"content-type", b"application/json")],
        "path_template": "/v1/documents/{document_id}/answers",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def discard(message: Any) -> None:
        return None

    observer = RequestObserver(_answer_at_once)
    observed, instant = ObservedLLM(InstantLLM()), InstantLLM()  # type: ignore[arg-type]
    messages: list[ChatMessage] = [{"role": "user", "content": "x"}]
    with _access_lines(), model_call("answer", "bench"):
        measured = await _interleaved_per_call_us(
            {
                "observer": lambda _: observer(dict(scope), receive, discard),
                "no observer": lambda _: _answer_at_once(dict(scope), receive, discard),
                "observed": lambda _: observed.complete(messages, max_tokens=8),
                "instant": lambda _: instant.complete(messages, max_tokens=8),
            },
            calls,
        )
    return {
        "observer_us_per_request": round(measured["observer"] - measured["no observer"], 1),
        "model_call_metrics_us_per_call": round(measured["observed"] - measured["instant"], 1),
    }


@contextlib.contextmanager
def _access_lines() -> Iterator[None]:
    """Access lines formatted and written as `service serve` writes them (to /dev/null),
    whatever logging the benchmark itself has set up."""
    access = logging.getLogger("service.access")
    saved = access.level, access.propagate
    with open(os.devnull, "w") as sink:
        handler = logging.StreamHandler(sink)
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
        try:
            yield
        finally:
            access.removeHandler(handler)
            access.setLevel(saved[0])
            access.propagate = saved[1]


def _bare(app: Any) -> Any:
    """The app without its request observer (METRICS=0 in its settings does the rest)."""
    observer = app.asgi_handler
    assert isinstance(observer, RequestObserver), "create_app no longer adds the observer"
    app.asgi_handler = observer.app
    return app


async def _apps(calls: int, profile_to: Path | None) -> dict[str, Any]:
    article = sample_article()
    context = render_numbered(
        DocumentIndex.build(document_of(sample_article())), [0]
    )  # any context: the stub ignores it

    async def instant(_: list[Any]) -> str:
        return REPLY

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            llm_base_url="http://127.0.0.1:9/v1",
            database_path=Path(tmp) / "docs.sqlite3",
            # Lexical ranking keeps every step on the event loop, where cProfile sees it.
            dense_retrieval=False,
        )
        # As the service wraps its model (open_llm): calls counted and timed.
        service_app = create_app(settings, llm=ObservedLLM(InstantLLM()))  # type: ignore[arg-type]
        bare_settings = replace(settings, metrics=False, database_path=Path(tmp) / "bare.sqlite3")
        bare_app = _bare(create_app(bare_settings, llm=InstantLLM()))  # type: ignore[arg-type]
        minimal_app = create_minimal_app("http://127.0.0.1:9/v1", context, instant)
        async with (
            service_app.lifespan(),
            bare_app.lifespan(),
            minimal_app.lifespan(),
        ):
            paths = {}
            for name, app in (("service", service_app), ("bare", bare_app)):
                status, created = await asgi_post(
                    app, "/v1/documents", msgspec.json.encode({"text": article})
                )
                assert status == 201, created
                paths[name] = f"/v1/documents/{msgspec.json.decode(created)['id']}/answers"
            service_path = paths["service"]
            counter = 0

            async def ask(app: Any, path: str) -> None:
                nonlocal counter
                counter += 1  # a new question every time: never a cache hit
                body = msgspec.json.encode({"question": f"{QUESTION} #{counter}"})
                status, content = await asgi_post(app, path, body)
                assert status == 200, content

            with _access_lines():
                measured = await _interleaved_per_call_us(
                    {
                        "service": lambda _: ask(service_app, service_path),
                        "bare": lambda _: ask(bare_app, paths["bare"]),
                        "minimal": lambda _: ask(minimal_app, "/v1/answers"),
                    },
                    3 * calls,
                    rounds=30,
                )
            service_us, bare_us, minimal_us = (
                measured["service"],
                measured["bare"],
                measured["minimal"],
            )
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                await ask(service_app, service_path)
            profiler.disable()
    if profile_to is not None:
        profiler.dump_stats(profile_to)
    pieces = await _pieces_us(20 * calls)
    observability_us = pieces["observer_us_per_request"] + pieces["model_call_metrics_us_per_call"]
    return {
        "service_app_us_per_request": round(service_us, 1),
        "minimal_app_us_per_request": round(minimal_us, 1),
        "service_adds_us_per_request": round(service_us - minimal_us, 1),
        "bare_app_us_per_request": round(bare_us, 1),
        "observability_us_end_to_end": round(service_us - bare_us, 1),
        # Request ids, access lines and metrics: per request (one model call per answer),
        # and as a share of all the service adds over the minimal app (issue #13's bar:
        # at most 5%).
        **pieces,
        "observability_us_per_request": round(observability_us, 1),
        "observability_share_of_service_adds": round(
            observability_us / (service_us - minimal_us), 4
        ),
        "steps_us": _steps(profiler, calls),
        "service_cprofile_top": _top_functions(profiler, calls) if profile_to is not None else [],
    }


# The answer path's own steps, as the real service runs them (function, module).
STEPS = {
    "answer_question": "service/pipeline/answer.py",
    "gather_evidence": "service/pipeline/context.py",
    "render_numbered": "service/pipeline/context.py",
    "ask_structured": "service/pipeline/structured.py",
    "parse_reply": "service/pipeline/structured.py",
    "ground_answer": "service/grounding/answers.py",
    "answer_signals": "service/pipeline/answer.py",
}


def _steps(profiler: cProfile.Profile, calls: int) -> dict[str, float]:
    """Inclusive µs per request of each step in STEPS (cProfile inflates absolute numbers:
    use them to rank and compare)."""
    stats = pstats.Stats(profiler)
    found: dict[str, float] = {}
    for (path, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        module = STEPS.get(name)
        if module is not None and path.endswith(module):
            found[name] = round(cumulative / calls * 1e6, 1)
    return found


def _top_functions(profiler: cProfile.Profile, calls: int, top: int = 15) -> list[list[Any]]:
    """(function, µs per request inclusive) of the service's own functions and the
    Litestar, anyio and asyncio machinery they go through (the ASGI driver is left out)."""
    stats = pstats.Stats(profiler)
    rows = []
    for (path, line, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "bench/" in path or name in {"<module>", "run", "_run"}:
            continue
        if any(part in path for part in ("/service/", "litestar/", "anyio/", "concurrent/")):
            short = path.split("/work/main/")[-1].split("site-packages/")[-1]
            rows.append([f"{name} ({short}:{line})", round(cumulative / calls * 1e6, 1)])
    rows.sort(key=lambda r: -r[1])
    return rows[:top]


def run(calls: int = 300, profile_to: Path | None = None) -> dict[str, Any]:
    return {
        **asyncio.run(_apps(calls, profile_to)),
        "note": "apps called in-process through ASGI with an instant model: the difference "
        "is the service's own per-request work, model call and HTTP excluded; steps_us and "
        "the cProfile top are from profiling that same path (inflated: use them for ranking)",
    }
