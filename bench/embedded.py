"""The embedded model (the default tier, EMBEDDED_MODEL, under llama.cpp, 2 threads) behind
the real service.

Measured through the service process over HTTP with Accept: text/event-stream, so the times
include retrieval, prompting, structured output and grounding: time to the first `delta` event
(the first visible character of the answer or summary text, which comes after the JSON key the
model writes first) and to the final `result` event.

The section has a hard time budget: on a busy 2-core machine llama.cpp's two threads can slow
down tenfold, and a benchmark that runs for ever helps nobody. What did not finish is reported.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import SHARED_DATA, median, rounded, sample_article
from bench.corpus import document_of, read_jsonl
from bench.processes import service_process
from bench.questions import SAMPLE_QUESTIONS
from service.llm.embedded import EmbeddedModelServer
from service.llm.model_files import model_path, tier_named
from service.pipeline.context import EvidencePolicy
from service.pipeline.prefill import prefill_steps
from service.retrieval.index import DocumentIndex
from service.settings import Settings
from tests.metrics_scrape import Scrape

THREADS = 2
# (concurrency, most questions, seconds after which no new question starts). The model serves
# one request at a time, so more concurrency queues rather than overlaps.
PLAN = ((1, 8, 20.0), (2, 6, 12.0), (4, 8, 12.0))
SUMMARY_RUNS = 3
READ_AHEAD_ARTICLES = 2
SECTION_BUDGET_S = 330.0  # hard: requests still running then are abandoned
PHASE_GRACE_S = 20.0  # how long a phase may overrun its own budget before it is cut
SSE = {"Accept": "text/event-stream"}


def other_model_servers(own_pid: int | None) -> int:
    """llama.cpp servers on this machine that are not ours: they share the 2 cores, and the
    timings below mean little while one is busy."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own_pid:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        count += b"llama_cpp.server" in cmdline
    return count


class Clock:
    """The section's hard deadline."""

    def __init__(self, budget_s: float) -> None:
        self.deadline = time.perf_counter() + budget_s

    def left(self) -> float:
        return self.deadline - time.perf_counter()


async def _stream(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST with SSE; seconds to the first delta and to the result, and the result body."""
    started = time.perf_counter()
    first: float | None = None
    event = ""
    result: dict[str, Any] = {}
    async with client.stream("POST", url, json=body, headers=SSE) as response:
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                if event == "delta" and first is None:
                    first = time.perf_counter() - started
            elif line.startswith("data:") and event in ("result", "error"):
                result = json.loads(line[5:])
                result["_event"] = event
    return {"ttft_s": first, "total_s": time.perf_counter() - started, "result": result}


async def _answers(
    client: httpx.AsyncClient,
    url: str,
    questions: list[str],
    concurrency: int,
    budget_s: float,
    clock: Clock,
) -> dict[str, Any]:
    pending = list(questions)
    done: list[dict[str, Any]] = []
    soft_deadline = time.perf_counter() + budget_s

    async def worker() -> None:
        while pending and time.perf_counter() < soft_deadline:
            question = pending.pop(0)
            done.append(await _stream(client, url, {"question": question}))

    started = time.perf_counter()
    cut = False
    try:
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))),
            timeout=max(1.0, min(budget_s + PHASE_GRACE_S, clock.left())),
        )
    except TimeoutError:
        cut = True
    wall = time.perf_counter() - started
    return {
        "runs": done,
        "summary": {
            "answers": len(done),
            "cut_short": cut,
            "wall_s": rounded(wall, 2),
            "answers_per_minute": rounded(len(done) / wall * 60, 1) if done else 0.0,
            "median_total_s": rounded(median([r["total_s"] for r in done]), 2),
            "totals_s": [round(r["total_s"], 2) for r in done],
            "errors": sum(r["result"].get("_event") != "result" for r in done),
        },
    }


async def _summary(
    client: httpx.AsyncClient, doc: str, article: str, clock: Clock
) -> dict[str, Any] | None:
    # Deleting the document drops its cached results: the same summary is made again rather
    # than served from cache.
    await client.delete(f"/v1/documents/{doc}")
    await client.post("/v1/documents", json={"text": article})
    try:
        return await asyncio.wait_for(
            _stream(client, f"/v1/documents/{doc}/summary", {}), timeout=max(1.0, clock.left())
        )
    except TimeoutError:
        return None


def _short_articles(count: int) -> list[str]:
    """CNN/DM articles the answer prompt shows whole (questions on them share a prompt
    prefix, so a read-ahead can help), at least ~500 tokens each."""
    settings = Settings()
    found = []
    for row in read_jsonl(SHARED_DATA / "cnndm_dev.jsonl"):
        document = document_of(row["text"])
        if 500 <= document.segmentation.tokens <= settings.answer_whole_article_tokens:
            found.append(row["text"])
        if len(found) == count:
            break
    return found


def _read_steps(article: str) -> int:
    index = DocumentIndex.build(document_of(article))
    return len(prefill_steps(index, EvidencePolicy.of(Settings())))


async def _reads_done(client: httpx.AsyncClient) -> float:
    scrape = Scrape((await client.get("/metrics")).text)
    return scrape.value("grounded_model_calls_total", kind="prefill", outcome="ok")


async def _first_questions(client: httpx.AsyncClient, clock: Clock) -> dict[str, Any]:
    """The first question on a newly stored article: asked at once (the model reads the
    article for it) and, on the same articles after another one has been read, asked
    once the read-ahead (PREFILL_ARTICLES) is done. Same articles, same question."""
    articles = _short_articles(READ_AHEAD_ARTICLES)
    question = {"question": "Who is this article about?"}
    at_once: list[float] = []
    read_ahead: list[float] = []
    ids = []
    for article in articles:
        doc = (await client.post("/v1/documents", json={"text": article})).json()["id"]
        ids.append(doc)
        if clock.left() < 30:
            return {"skipped": "section time budget spent"}
        at_once.append((await _stream(client, f"/v1/documents/{doc}/answers", question))["total_s"])
    for article, doc in zip(articles, ids, strict=True):
        if clock.left() < 60:
            break
        # Deleting drops the cached answer: the question is answered again.
        await client.delete(f"/v1/documents/{doc}")
        before = await _reads_done(client)
        await client.post("/v1/documents", json={"text": article})
        steps = _read_steps(article)
        while await _reads_done(client) - before < steps and clock.left() > 30:
            await asyncio.sleep(0.2)
        read_ahead.append(
            (await _stream(client, f"/v1/documents/{doc}/answers", question))["total_s"]
        )
    pairs = min(len(at_once), len(read_ahead))
    slow, fast = median(at_once[:pairs]), median(read_ahead[:pairs])
    return {
        "articles": pairs,
        "asked_at_once_s": [round(t, 2) for t in at_once[:pairs]],
        "after_read_ahead_s": [round(t, 2) for t in read_ahead[:pairs]],
        "ratio_read_ahead_to_at_once": rounded(fast / slow, 3) if slow and fast else None,
    }


async def _run() -> dict[str, Any]:
    settings = Settings.from_env()
    tier = tier_named(settings.embedded_model)
    gguf = await asyncio.to_thread(model_path, tier, settings.model_cache_dir)
    started = time.perf_counter()
    async with EmbeddedModelServer(
        gguf, model_alias=tier.name, n_threads=THREADS, n_ctx=4096
    ) as server:
        startup_s = time.perf_counter() - started
        others = other_model_servers(server.pid)
        clock = Clock(SECTION_BUDGET_S)
        env = {
            "LLM_MODEL": server.model_alias,
            "LLM_STRUCTURED_OUTPUT": "json_object",
            # The service reaches this server as an endpoint, where `auto` means off.
            "PREFILL_ARTICLES": "on",
        }
        with (
            tempfile.TemporaryDirectory() as tmp,
            service_process(server.base_url, Path(tmp), env) as service,
        ):
            async with httpx.AsyncClient(base_url=service.base, timeout=300) as client:
                article = sample_article()
                doc = (await client.post("/v1/documents", json={"text": article})).json()["id"]
                questions = list(SAMPLE_QUESTIONS)
                levels: dict[str, Any] = {}
                single: list[dict[str, Any]] = []
                summaries: list[dict[str, Any]] = []
                for concurrency, count, budget_s in PLAN:
                    if clock.left() <= 1:
                        levels[f"c{concurrency}"] = {"skipped": "section time budget spent"}
                        continue
                    batch, questions = questions[:count], questions[count:]
                    phase = await _answers(
                        client, f"/v1/documents/{doc}/answers", batch, concurrency, budget_s, clock
                    )
                    levels[f"c{concurrency}"] = phase["summary"]
                    if concurrency == 1:
                        single = phase["runs"]
                        # One summary right after the sequential answers, before queues form.
                        if (first := await _summary(client, doc, article, clock)) is not None:
                            summaries.append(first)
                while len(summaries) < SUMMARY_RUNS and clock.left() > 20:
                    if (more := await _summary(client, doc, article, clock)) is None:
                        break
                    summaries.append(more)
                first_questions = await _first_questions(client, clock)
    ttfts = [r["ttft_s"] for r in single if r["ttft_s"] is not None]
    return {
        "model": f"{tier.name} ({gguf.name}), llama-cpp-python server",
        "threads": THREADS,
        "path": "service process over HTTP, SSE streaming (Accept: text/event-stream)",
        "server_startup_s": rounded(startup_s, 2),
        "other_model_servers_running": others,
        "answer_ttft_median_s": rounded(median(ttfts), 2),
        "answer_total_median_s": rounded(median([r["total_s"] for r in single]), 2),
        "answers_with_visible_text": len(ttfts),
        "answerable": sum(bool(r["result"].get("answerable")) for r in single),
        "summary_ttft_median_s": rounded(
            median([r["ttft_s"] for r in summaries if r["ttft_s"] is not None]), 2
        ),
        "summary_total_median_s": rounded(median([r["total_s"] for r in summaries]), 2),
        "summary_totals_s": [round(r["total_s"], 2) for r in summaries],
        "summary_sentences": [len(r["result"].get("sentences", [])) for r in summaries],
        "first_question": first_questions,
        "throughput": levels,
        "answers_per_minute": {k: v.get("answers_per_minute") for k, v in levels.items()},
        "first_question_read_ahead_ratio": first_questions.get("ratio_read_ahead_to_at_once"),
    }


def run() -> dict[str, Any]:
    try:
        return asyncio.run(_run())
    except Exception as exc:  # the embedded model is optional for the other benchmarks
        return {"skipped": f"embedded model failed: {type(exc).__name__}: {exc}"}
