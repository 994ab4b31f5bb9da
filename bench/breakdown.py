"""Where the service's per-request CPU goes, measured in-process where preemption cannot blur it.

Two views:
- each step of the answer path timed alone (BM25, grounding, thread hops...);
- the whole app in-process with an instant model, against the minimal app with the same
  instant model: everything the service adds except the model call, plus cProfile's top
  functions of that path.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec
from litestar.concurrency import sync_to_thread

from bench.common import sample_article
from bench.corpus import document_of
from bench.inprocess import ANSWER_REPLY
from bench.minimal_app import create_minimal_app
from bench.overhead import QUESTION
from service.app import create_app
from service.domain import Answer, Usage
from service.grounding.answers import ground_answer
from service.llm.base import ChatMessage, Completion, DeltaCallback, OutputSchema
from service.pipeline.context import render_numbered, select_for_question
from service.pipeline.structured import parse_reply
from service.prompts import load_prompt
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
    ) -> Completion:
        return Completion(content=REPLY, model=self.model, prompt_tokens=1, completion_tokens=1)

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def _per_call_us(fn: Callable[[int], Any], calls: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for i in range(calls):
            fn(i)
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


async def _async_per_call_us(
    fn: Callable[[int], Awaitable[Any]], calls: int, repeats: int = 3
) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for i in range(calls):
            await fn(i)
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


def _noop() -> None:
    return None


def steps(calls: int) -> dict[str, float]:
    """Microseconds per call of each step of the answer path, alone."""
    settings = Settings()
    document = document_of(sample_article())
    index = DocumentIndex.build(document)
    prompt = load_prompt("answer")

    def select(i: int) -> list[int]:
        # A different question each call, like the load test (no memoisation can help).
        return select_for_question(
            index,
            f"{QUESTION} #{i}",
            settings.context_budget_tokens,
            settings.retrieval_budget_tokens,
            settings.answer_context_sentences,
        )

    shown = select(0)
    grounded = ground_answer(index, QUESTION, "Dmitry Peskov", shown, 16)
    answer = Answer(
        document_id=document.id,
        question=QUESTION,
        answerable=grounded.answerable,
        answer=grounded.answer,
        citations=grounded.citations,
        model="scripted",
        prompt_version=prompt.version_tag,
        usage=Usage(),
    )
    result = {
        "bm25_select_sentences": _per_call_us(select, calls),
        "render_prompt": _per_call_us(
            lambda i: prompt.render(
                article=render_numbered(index, shown), question=f"{QUESTION} #{i}"
            ),
            calls,
        ),
        "parse_reply": _per_call_us(lambda _: parse_reply(REPLY), calls),
        "ground_answer": _per_call_us(
            lambda i: ground_answer(index, f"{QUESTION} #{i}", "Dmitry Peskov", shown, 16), calls
        ),
        "encode_response": _per_call_us(lambda _: msgspec.json.encode(answer), calls),
    }

    async def hops() -> dict[str, float]:
        return {
            # pipeline/answer.py runs ground_answer through anyio's worker threads.
            "anyio_to_thread_hop": await _async_per_call_us(
                lambda _: anyio.to_thread.run_sync(_noop), calls
            ),
            # Litestar runs a sync guard (app.py require_json) in its executor per request.
            "litestar_sync_guard_hop": await _async_per_call_us(
                lambda _: sync_to_thread(_noop), calls
            ),
        }

    result.update(asyncio.run(hops()))
    return {k: round(v, 1) for k, v in result.items()}


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


async def _apps(calls: int, profile_to: Path | None) -> dict[str, Any]:
    article = sample_article()
    context = render_numbered(
        DocumentIndex.build(document_of(sample_article())), [0]
    )  # any context: the stub ignores it

    async def instant(_: list[Any]) -> str:
        return REPLY

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            llm_base_url="http://127.0.0.1:9/v1", database_path=Path(tmp) / "docs.sqlite3"
        )
        service_app = create_app(settings, llm=InstantLLM())  # type: ignore[arg-type]
        minimal_app = create_minimal_app("http://127.0.0.1:9/v1", context, instant)
        async with service_app.lifespan(), minimal_app.lifespan():
            status, created = await asgi_post(
                service_app, "/v1/documents", msgspec.json.encode({"text": article})
            )
            assert status == 201, created
            service_path = f"/v1/documents/{msgspec.json.decode(created)['id']}/answers"
            counter = 0

            async def ask(app: Any, path: str) -> None:
                nonlocal counter
                counter += 1  # a new question every time: never a cache hit
                body = msgspec.json.encode({"question": f"{QUESTION} #{counter}"})
                status, content = await asgi_post(app, path, body)
                assert status == 200, content

            service_us = await _async_per_call_us(lambda _: ask(service_app, service_path), calls)
            minimal_us = await _async_per_call_us(lambda _: ask(minimal_app, "/v1/answers"), calls)
            top: list[list[Any]] = []
            if profile_to is not None:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(calls):
                    await ask(service_app, service_path)
                profiler.disable()
                profiler.dump_stats(profile_to)
                top = _top_functions(profiler, calls)
    return {
        "service_app_us_per_request": round(service_us, 1),
        "minimal_app_us_per_request": round(minimal_us, 1),
        "service_adds_us_per_request": round(service_us - minimal_us, 1),
        "service_cprofile_top": top,
    }


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
    step_us = steps(calls)
    return {
        "steps_us": step_us,
        "steps_total_us": round(sum(step_us.values()), 1),
        **asyncio.run(_apps(calls, profile_to)),
        "note": "apps called in-process through ASGI with an instant model: the difference "
        "is the service's own per-request work, model call and HTTP excluded; cProfile "
        "inflates absolute numbers (use it for ranking)",
    }
