"""Service overhead: the real service process against the minimal Litestar+openai endpoint,
both served by uvicorn, both calling the same instant ScriptedUpstream (its own process), both
driven by the same load generator, in interleaved rounds.

A third process, the service without its request observer and metrics (bench.bare_service),
runs in the same rounds: the difference is what request ids, access lines and metrics cost
(issue #13: at most 5% of the service's overhead)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench import profiling
from bench.common import RESULTS_DIR, median, rounded, sample_article
from bench.corpus import document_of
from bench.inprocess import ANSWER_REPLY
from bench.load import LoadResult, run_load, wrk_available
from bench.processes import cpu_seconds, minimal_process, service_process, upstream_process
from service.pipeline.context import EvidencePolicy, render_numbered, select_for_question
from service.retrieval.index import DocumentIndex
from service.settings import Settings

# Asks about sentence 17, which the scripted reply cites; each request appends " #tag-n".
QUESTION = "What did Kremlin spokesperson Dmitry Peskov warn about?"
CONCURRENCIES = (1, 32)


def article_context(article: str, question: str) -> str:
    """The numbered sentences the service shows the model for question (its default settings),
    so the minimal endpoint sends a prompt of the same size."""
    settings = Settings()
    index = DocumentIndex.build(document_of(article))
    shown = select_for_question(index, question, EvidencePolicy.of(settings))
    return render_numbered(index, shown)


def _best(results: list[LoadResult]) -> LoadResult:
    return max(results, key=lambda r: r.rps)


def _summarize(
    by_key: dict[tuple[str, int], list[LoadResult]], cache_hits: dict[int, LoadResult]
) -> dict[str, Any]:
    """Headline figures: each side's best run (its least disturbed one) against the other's."""
    service_c32, minimal_c32 = _best(by_key["service", 32]), _best(by_key["minimal", 32])
    service_c1 = min(by_key["service", 1], key=lambda r: r.p50_ms)
    minimal_c1 = min(by_key["minimal", 1], key=lambda r: r.p50_ms)
    return {
        "service_overhead_ratio": rounded(service_c32.rps / minimal_c32.rps),
        "added_median_ms_c1": rounded(service_c1.p50_ms - minimal_c1.p50_ms),
        "service_rps_c32": rounded(service_c32.rps, 1),
        "minimal_rps_c32": rounded(minimal_c32.rps, 1),
        "service_rps_c1": rounded(_best(by_key["service", 1]).rps, 1),
        "minimal_rps_c1": rounded(_best(by_key["minimal", 1]).rps, 1),
        "service_p50_ms_c1": rounded(service_c1.p50_ms),
        "minimal_p50_ms_c1": rounded(minimal_c1.p50_ms),
        "service_p99_ms_c32": rounded(service_c32.p99_ms),
        "minimal_p99_ms_c32": rounded(minimal_c32.p99_ms),
        # Each round's service run against the minimal run next to it.
        "paired_ratios_c32": [
            rounded(s.rps / m.rps)
            for s, m in zip(by_key["service", 32], by_key["minimal", 32], strict=True)
        ],
        "cache_hit_rps_c32": rounded(cache_hits[32].rps, 1),
        "cache_hit_p50_ms_c1": rounded(cache_hits[1].p50_ms),
        **_observability(by_key),
    }


def _observability(by_key: dict[tuple[str, int], list[LoadResult]]) -> dict[str, Any]:
    """The service with its request observer and metrics against the service without."""
    service_c32, bare_c32 = _best(by_key["service", 32]), _best(by_key["bare", 32])
    service_c1 = min(by_key["service", 1], key=lambda r: r.p50_ms)
    bare_c1 = min(by_key["bare", 1], key=lambda r: r.p50_ms)
    return {
        "bare_rps_c32": rounded(bare_c32.rps, 1),
        "bare_p50_ms_c1": rounded(bare_c1.p50_ms),
        # With / without, req/s at c=32: 1 means free, 0.95 a 5% cost.
        "observability_rps_ratio_c32": rounded(service_c32.rps / bare_c32.rps),
        "observability_paired_ratios_c32": [
            rounded(s.rps / b.rps)
            for s, b in zip(by_key["service", 32], by_key["bare", 32], strict=True)
        ],
        "observability_added_median_ms_c1": rounded(service_c1.p50_ms - bare_c1.p50_ms),
    }


def _cpu(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median server CPU per uncached request, per side, over all rounds and concurrencies."""
    per_side = {
        name: median(
            [r["server_cpu_ms_per_request"] for r in runs if r["target"] == name and r["vary"]]
        )
        for name in ("service", "bare", "minimal")
    }
    service, bare, minimal = per_side["service"], per_side["bare"], per_side["minimal"]
    added = service - minimal if service and minimal else None
    observability = service - bare if service and bare else None
    return {
        "service_cpu_ms_per_request": rounded(service),
        "minimal_cpu_ms_per_request": rounded(minimal),
        "added_cpu_ms_per_request": rounded(added) if added is not None else None,
        "bare_cpu_ms_per_request": rounded(bare),
        # What request ids, access lines and metrics add, per request, and as a share of
        # all the service adds over the minimal endpoint (the service's overhead).
        "observability_cpu_ms_per_request": (
            rounded(observability) if observability is not None else None
        ),
        "observability_share_of_overhead": (
            rounded(observability / added) if observability is not None and added else None
        ),
        "cache_hit_cpu_ms_per_request": rounded(
            median([r["server_cpu_ms_per_request"] for r in runs if not r["vary"]])
        ),
    }


def misses_bar(summary: dict[str, Any]) -> bool:
    return summary["service_overhead_ratio"] < 0.8 or summary["added_median_ms_c1"] >= 1.0


def run(
    duration_s: float = 5.0,
    rounds: int = 2,
    tool: str | None = None,
    profile: bool | None = None,
) -> dict[str, Any]:
    """profile: True always, False never, None when a bar is missed (py-spy, if installed)."""
    tool = tool or ("wrk" if wrk_available() else "httpx")
    article = sample_article()
    context = article_context(article, QUESTION)
    runs: list[dict[str, Any]] = []
    by_key: dict[tuple[str, int], list[LoadResult]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        upstream_process(ANSWER_REPLY) as upstream,
        service_process(upstream.base, Path(tmp)) as service,
        service_process(upstream.base, Path(tmp), bare=True) as bare,
        minimal_process(upstream.base, context, Path(tmp)) as minimal,
    ):
        pids = {"service": service.pid, "bare": bare.pid, "minimal": minimal.pid}
        targets = {
            name: f"{server.base}/v1/documents/{_store(server.base, article)}/answers"
            for name, server in (("service", service), ("bare", bare))
        }
        targets["minimal"] = f"{minimal.base}/v1/answers"
        sanity = {
            name: httpx.post(url, json={"question": QUESTION}, timeout=30).json()
            for name, url in targets.items()
        }

        def measure(name: str, concurrency: int, tag: str, vary: bool = True) -> LoadResult:
            before = cpu_seconds(pids[name]), cpu_seconds(upstream.pid)
            result = run_load(targets[name], QUESTION, concurrency, duration_s, tag, vary, tool)
            server_cpu = cpu_seconds(pids[name]) - before[0]
            upstream_cpu = cpu_seconds(upstream.pid) - before[1]
            requests = max(result.requests, 1)
            runs.append(
                {
                    "target": name,
                    "tag": tag,
                    "vary": vary,
                    **result.as_dict(),
                    # CPU the server burnt per request: unlike latency, preemption by the
                    # machine's other load does not inflate it.
                    "server_cpu_ms_per_request": round(server_cpu / requests * 1000, 3),
                    "upstream_cpu_ms_per_request": round(upstream_cpu / requests * 1000, 3),
                }
            )
            return result

        for name in targets:  # warm-up: connections, caches, first-call imports
            run_load(targets[name], QUESTION, 8, 1.0, f"warm-{name}", True, tool)
        for round_ in range(rounds):
            for concurrency in CONCURRENCIES:
                # Alternate the order, so drift in the machine's load hits every side.
                order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
                for name in order:
                    result = measure(name, concurrency, f"r{round_}c{concurrency}")
                    by_key.setdefault((name, concurrency), []).append(result)
        # The same question every time: all but the first come from the result cache.
        cache_hits = {c: measure("service", c, "cached", vary=False) for c in CONCURRENCIES}
        summary = {**_summarize(by_key, cache_hits), **_cpu(runs)}
        profiles = None
        if profile or (profile is None and misses_bar(summary)):
            profiles = {
                name: _profile(name, server.pid, targets[name], duration_s, tool)
                for name, server in (("service", service), ("minimal", minimal))
            }
    return {
        "tool": tool,
        "duration_s": duration_s,
        "rounds": rounds,
        "question": QUESTION + " #<run>-<thread>-<counter>",
        **summary,
        "errors": sum(r["errors"] for r in runs),
        "profile": profiles,
        "sanity": {
            "service_answer": sanity["service"].get("answer"),
            "bare_answer": sanity["bare"].get("answer"),
            "service_answerable": sanity["service"].get("answerable"),
            "minimal_content": sanity["minimal"].get("content"),
        },
        "runs": runs,
    }


def _store(base: str, article: str) -> str:
    """Store the article in a service; its document id."""
    created = httpx.post(f"{base}/v1/documents", json={"text": article}, timeout=30)
    created.raise_for_status()
    return str(created.json()["id"])


def _profile(name: str, pid: int, url: str, duration_s: float, tool: str) -> dict[str, Any]:
    """py-spy samples of one server while it serves uncached questions at c=32."""
    out = RESULTS_DIR / f"{name}_profile.txt"
    recorder = profiling.start_recording(pid, duration_s, out)
    if recorder is None:
        return {"skipped": "py-spy is not installed"}
    load = run_load(url, QUESTION, 32, duration_s, f"profile-{name}", True, tool)
    _, stderr = recorder.communicate(timeout=duration_s + 60)
    if recorder.returncode != 0 or not out.exists():
        return {"skipped": f"py-spy failed: {stderr.decode(errors='replace')[-500:]}"}
    return {
        "raw": str(out.relative_to(RESULTS_DIR.parent.parent)),
        **profiling.summarize(out, load.requests),
    }
