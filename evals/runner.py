"""Run eval cases against the service (over HTTP or in-process) and write the reports."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evals.baselines import ABSTAIN, bm25_answer, lead3_summary
from evals.datasets import (
    PROJECT_ROOT,
    EvalDocument,
    case_id,
    default_data_dir,
    filter_task,
    load_dataset,
)
from evals.gating import load_thresholds
from evals.judge import FaithfulnessJudge
from evals.prices import load_prices
from evals.report import build_report, write_reports
from evals.run_config import RunConfig
from evals.schema import MODEL, AnswerResponse, CaseRecord, RunResult, Task
from evals.scoring import score_qa_case, score_summary_case

DEFAULT_LLM_CACHE = PROJECT_ROOT / "evals" / ".cache" / "llm"
console = Console(stderr=True)


@dataclass(frozen=True)
class DatasetSpec:
    path: Path
    task: Task | None = None
    limit: int | None = None


def load_suite(path: Path) -> list[DatasetSpec]:
    """Datasets of a suite file (see evals/suites/smoke.toml)."""
    data = tomllib.loads(path.read_text("utf-8"))
    specs = []
    for entry in data.get("dataset", []):
        raw = str(entry["path"])
        resolved = default_data_dir() / raw[7:] if raw.startswith("shared:") else PROJECT_ROOT / raw
        specs.append(DatasetSpec(resolved, entry.get("task"), entry.get("limit")))
    return specs


@dataclass
class Job:
    """One eval case: a question or a summary of a document."""

    document: EvalDocument
    task: str
    question_index: int | None = None

    @property
    def id(self) -> str:
        question = (
            None if self.question_index is None else self.document.questions[self.question_index]
        )
        return f"{self.task}:{case_id(self.document, question)}"


def plan(specs: list[DatasetSpec], task: Task | None, limit: int | None) -> list[Job]:
    """Every case the run will score, in a stable order."""
    jobs: list[Job] = []
    for spec in specs:
        wanted = spec.task or task
        if task and spec.task and spec.task != task:
            continue
        docs = load_dataset(spec.path, limit=spec.limit or limit, task=wanted)
        if wanted in (None, "qa"):
            for document in filter_task(docs, "qa"):
                jobs += [Job(document, "qa", i) for i in range(len(document.questions))]
        if wanted in (None, "summary"):
            jobs += [Job(document, "summary") for document in filter_task(docs, "summary")]
    return jobs


class Checkpoint:
    """Finished cases on disk (JSONL), so an interrupted run resumes where it stopped."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.records: dict[str, list[CaseRecord]] = {}
        if path.exists():
            lines = path.read_text("utf-8").splitlines()
            if lines and json.loads(lines[0]).get("fingerprint") == fingerprint:
                for line in lines[1:]:
                    with contextlib.suppress(ValueError, msgspec.ValidationError):
                        entry = json.loads(line)
                        self.records[entry["job"]] = msgspec.convert(
                            entry["records"], list[CaseRecord]
                        )
            else:
                path.unlink()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", "utf-8")

    def save(self, job: str, records: list[CaseRecord]) -> None:
        self.records[job] = records
        line = json.dumps({"job": job, "records": msgspec.to_builtins(records)}, ensure_ascii=False)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


@contextlib.asynccontextmanager
async def service_client(config: RunConfig) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to the service: a running one (config.url) or the app in-process."""
    if config.url:
        async with httpx.AsyncClient(base_url=config.url.rstrip("/"), timeout=900) as client:
            yield client
        return
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    from service.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        overrides = {
            "DATABASE_PATH": str(Path(tmp) / "documents.sqlite3"),
            "LLM_CACHE_DIR": os.environ.get("LLM_CACHE_DIR", str(DEFAULT_LLM_CACHE)),
            "LLM_REPLAY": "1" if config.replay else os.environ.get("LLM_REPLAY", "0"),
        }
        settings = Settings.from_env({**os.environ, **overrides})
        console.print(
            f"[dim]in-process service; model calls recorded in {overrides['LLM_CACHE_DIR']}[/dim]"
        )
        async with AsyncTestClient(app=create_app(settings), timeout=900) as client:
            yield client  # type: ignore[misc]


def answerability_threshold(config: RunConfig) -> float:
    """The threshold answers are held to: the run's, or the service's default."""
    if config.answerability_threshold is not None:
        return config.answerability_threshold
    from service.settings import Settings

    return Settings.from_env().answerability_threshold


class Runner:
    """Sends each case to the service, scores it next to its baseline."""

    def __init__(
        self, client: httpx.AsyncClient, config: RunConfig, judge: FaithfulnessJudge | None
    ) -> None:
        self.client = client
        self.config = config
        self.judge = judge
        self.cost = load_prices(config.prices).cost
        self.answerability_threshold = answerability_threshold(config)
        self._documents: dict[str, asyncio.Task[tuple[str, list[list[int]]]]] = {}

    async def _post(
        self, url: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, float, str | None]:
        started = time.perf_counter()
        try:
            response = await self.client.post(url, json=body)
        except httpx.HTTPError as exc:
            return None, (time.perf_counter() - started) * 1000, f"request failed: {exc!r}"
        latency = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            return None, latency, f"HTTP {response.status_code}: {response.text[:300]}"
        return response.json(), latency, None

    async def document(self, document: EvalDocument) -> tuple[str, list[list[int]]]:
        """Store the document once; its service id and sentence spans."""
        key = hashlib.sha256(document.text.encode()).hexdigest()
        if key not in self._documents:
            self._documents[key] = asyncio.ensure_future(self._store(document))
        return await self._documents[key]

    async def _store(self, document: EvalDocument) -> tuple[str, list[list[int]]]:
        created = await self.client.post(
            "/v1/documents", json={"text": document.text, "title": document.title}
        )
        created.raise_for_status()
        detail = (await self.client.get(f"/v1/documents/{created.json()['id']}")).json()
        if detail["text"] != document.text:
            raise RuntimeError(
                f"service changed the text of {document.id}; gold offsets would not apply"
            )
        return detail["id"], detail["sentence_spans"]

    async def run_job(self, job: Job) -> list[CaseRecord]:
        doc_id, spans = await self.document(job.document)
        if job.task == "qa":
            assert job.question_index is not None
            question = job.document.questions[job.question_index]
            body, latency, error = await self._post(
                f"/v1/documents/{doc_id}/answers",
                {"question": question.question, "min_answerability": 0.0},
            )
            model = score_qa_case(
                job.document,
                question,
                body,
                sentence_spans=spans,
                system=MODEL,
                latency_ms=latency,
                error=error,
                cost=self.cost,
                answerability_threshold=self.answerability_threshold,
            )
            started = time.perf_counter()
            baseline_answer = bm25_answer(job.document.text, question.question, spans)
            baseline = score_qa_case(
                job.document,
                question,
                baseline_answer,
                sentence_spans=spans,
                system="bm25",
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            # "Not in the article" to everything: what abstention alone is worth.
            abstain = score_qa_case(
                job.document,
                question,
                AnswerResponse(answerable=False, answer=None),
                sentence_spans=spans,
                system=ABSTAIN,
                latency_ms=0.0,
            )
            return [model, baseline, abstain]
        body, latency, error = await self._post(
            f"/v1/documents/{doc_id}/summary", {"length": self.config.summary_length}
        )
        model = score_summary_case(
            job.document, body, system=MODEL, latency_ms=latency, error=error, cost=self.cost
        )
        if self.judge is not None and body is not None and error is None:
            model.components.update(await self.judge.components(body))
        started = time.perf_counter()
        lead = lead3_summary(job.document.text, spans)
        baseline = score_summary_case(
            job.document, lead, system="lead3", latency_ms=(time.perf_counter() - started) * 1000
        )
        return [model, baseline]


async def _bounded(jobs: list[Job], limit: int, work: Callable[[Job], Awaitable[None]]) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Job) -> None:
        async with semaphore:
            await work(job)

    await asyncio.gather(*(one(job) for job in jobs))


def make_judge(config: RunConfig) -> FaithfulnessJudge | None:
    """The faithfulness judge, when a judge model is configured."""
    if not config.judge_model:
        return None
    from service.llm.openai_client import OpenAICompatibleLLM

    llm = OpenAICompatibleLLM(
        base_url=config.judge_url or "https://api.openai.com/v1",
        api_key=os.environ.get("EVAL_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY"),
        model=config.judge_model,
        timeout_s=120.0,
        max_retries=2,
        concurrency=4,
    )
    return FaithfulnessJudge(llm)


def _fingerprint(config: RunConfig, jobs: list[Job]) -> str:
    parts = [
        str(config.url or "in-process"),
        config.summary_length,
        str(config.judge_model),
        *(job.id for job in jobs),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


async def _run(config: RunConfig) -> int:
    specs = load_suite(config.suite) if config.suite else [DatasetSpec(p) for p in config.datasets]
    jobs = plan(specs, config.task, config.limit)
    if not jobs:
        console.print("[red]no eval cases: check --dataset/--suite and --task[/red]")
        return 2
    out = config.out
    checkpoint = Checkpoint(out / "checkpoint.jsonl", _fingerprint(config, jobs))
    todo = [job for job in jobs if job.id not in checkpoint.records]
    if len(todo) < len(jobs):
        console.print(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} cases already done")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    judge = make_judge(config)
    async with service_client(config) as client:
        runner = Runner(client, config, judge)
        with Progress(*columns, console=console, transient=False) as progress:
            bar = progress.add_task("eval cases", total=len(jobs), completed=len(jobs) - len(todo))

            async def work(job: Job) -> None:
                checkpoint.save(job.id, await runner.run_job(job))
                progress.advance(bar)

            await _bounded(todo, config.concurrency, work)
    records = [record for job in jobs for record in checkpoint.records[job.id]]
    recorded = {
        "datasets": [str(s.path) for s in specs],
        "task": config.task,
        "limit": config.limit,
        "target": config.url or "in-process",
        "concurrency": config.concurrency,
        "summary_length": config.summary_length,
        "replay": config.replay,
        "model": next((r.model for r in records if r.model and r.system == MODEL), None),
        "judge": judge.version if judge is not None else None,
        "answerability_threshold": answerability_threshold(config),
    }
    thresholds = load_thresholds(config.thresholds)
    report = build_report(RunResult(config=recorded, cases=records), thresholds)
    paths = write_reports(report, out)
    console.print((out / "report.md").read_text("utf-8"))
    console.print(f"reports: {', '.join(str(p) for p in paths.values())}")
    return 0 if report.passed else 1


def run(config: RunConfig) -> int:
    """Run the evals `config` describes, write the reports; exit code 0 pass, 1 fail, 2 no cases."""
    # One log line per HTTP request would bury the progress bar and the report.
    for name in ("httpx", "httpx2", "bm25s"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return asyncio.run(_run(config))
