"""`python -m bench`: run the benchmarks, print the table, write bench/results/latest.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from bench import (
    breakdown,
    embedded,
    ingest,
    long_docs,
    overhead,
    repeat,
    report,
    scaling,
    shared_state,
)
from bench.common import RESULTS_DIR, load_average, machine_info
from bench.inprocess import scripted_upstream
from bench.load import wrk_available
from bench.upstream import nagle_stall_ms
from tests.fakes.upstream import ScriptedUpstream

SECTIONS = ("overhead", "ingest", "repeat", "long_docs", "embedded", "scaling", "shared_state")
# Not measured in --quick mode unless asked for by --only: they start servers or the model.
SLOW_SECTIONS = ("overhead", "embedded", "shared_state")
# Headline figures copied to the top level of the JSON (section, key).
HEADLINES = (
    ("overhead", "service_overhead_ratio"),
    ("overhead", "added_median_ms_c1"),
    ("overhead", "added_cpu_ms_per_request"),
    ("overhead", "observability_share_of_service_adds"),
    ("overhead", "observability_us_per_request"),
    ("overhead", "observability_share_of_overhead"),
    ("overhead", "observability_rps_ratio_c32"),
    ("overhead", "cache_hit_rps_c32"),
    ("ingest", "ingest_ratio_to_tiktoken"),
    ("ingest", "ingest_cpu_ratio_to_tiktoken"),
    ("repeat", "repeat_upstream_calls"),
    ("repeat", "repeat_extra_upstream_calls"),
    ("repeat", "singleflight_upstream_calls"),
    ("repeat", "summary_repeat_upstream_calls"),
    ("repeat", "summary_singleflight_upstream_calls"),
    ("long_docs", "long_doc_token_share"),
    ("long_docs", "evidence_recall_default"),
    ("long_docs", "evidence_recall_chunks_only"),
    ("long_docs", "evidence_recall_whole_article"),
    ("embedded", "answer_ttft_median_s"),
    ("embedded", "answer_total_median_s"),
    ("embedded", "summary_ttft_median_s"),
    ("embedded", "summary_total_median_s"),
    ("embedded", "answers_per_minute"),
    ("embedded", "first_question_read_ahead_ratio"),
    ("scaling", "ingest_s_per_mb_spread"),
    ("shared_state", "shared_added_ms_p50"),
    ("shared_state", "cache_hit_rps_ratio_3_haproxy_to_1"),
    ("shared_state", "cross_replica_singleflight_calls"),
    ("shared_state", "cross_replica_rate_limit_admitted"),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small inputs, and no server/model sections unless named in --only (for tests)",
    )
    parser.add_argument("--only", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "latest.json", help="where to write the JSON"
    )
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved load rounds")
    parser.add_argument("--load-tool", choices=("wrk", "httpx"), help="default: wrk if installed")
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument("--profile", action="store_true", default=None, help="always py-spy")
    profile.add_argument("--no-profile", dest="profile", action="store_false", help="never")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    return parser.parse_args(argv)


def chosen_sections(args: argparse.Namespace) -> list[str]:
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - set(SECTIONS))
        if unknown:
            raise SystemExit(f"unknown section(s): {', '.join(unknown)}")
        return [n for n in SECTIONS if n in names]
    return [n for n in SECTIONS if not (args.quick and n in SLOW_SECTIONS)]


def _quiet_logs() -> None:
    # Per-request INFO lines from the HTTP clients would bury the table.
    for name in ("httpx", "httpx2", "bm25s", "service", "litestar"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run_section(name: str, args: argparse.Namespace, upstream: ScriptedUpstream) -> dict[str, Any]:
    quick = args.quick
    if name == "overhead":
        duration = 1.0 if quick else args.duration
        rounds = 1 if quick else args.rounds
        tool = args.load_tool or ("wrk" if wrk_available() else "httpx")
        result = overhead.run(duration, rounds, tool, args.profile)
        if tool != "wrk":
            why = "wrk is not installed" if not wrk_available() else "--load-tool httpx"
            # The Python loop needs about as much CPU as the servers it drives, so on 2 cores it
            # is often the bottleneck and the ratio comes out closer to 1 than it is.
            result["note"] = (
                f"{why}: load came from a Python httpx loop, which competes with the servers "
                "for the 2 cores and understates the overhead; install wrk (apt-get install wrk)"
            )
        # Where the service's own per-request CPU goes, step by step (cheap, in-process).
        result["breakdown"] = breakdown.run(
            100 if quick else 300, RESULTS_DIR / "service_inprocess.prof"
        )
        # Issue #13's bar, from the in-process figure: the process-level one (CPU per
        # request, with and without, in the rounds above) moves with the machine's load.
        for key in ("observability_us_per_request", "observability_share_of_service_adds"):
            result[key] = result["breakdown"][key]
        return result
    if name == "ingest":
        return ingest.run(quick)
    if name == "repeat":
        return asyncio.run(repeat.run(upstream))
    if name == "long_docs":
        return asyncio.run(long_docs.run(upstream, quick))
    if name == "embedded":
        return embedded.run()
    if name == "scaling":
        return asyncio.run(scaling.run(upstream, quick))
    if name == "shared_state":
        tool = args.load_tool or ("wrk" if wrk_available() else "httpx")
        return shared_state.run(upstream, quick, args.duration, tool)
    raise ValueError(name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections = chosen_sections(args)
    _quiet_logs()
    started = time.perf_counter()
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full"}
    machine = machine_info()
    timings: dict[str, float] = {}
    section_results: dict[str, Any] = {}
    with scripted_upstream() as upstream:
        # The tests' fake upstream waits ~40 ms per reply on Nagle; the benchmark's does not.
        test_fake = ScriptedUpstream()
        test_fake.start()
        try:
            results["fake_upstream_reply_ms"] = {
                "tests_fakes_upstream": round(nagle_stall_ms(test_fake), 2),
                "bench_upstream": round(nagle_stall_ms(upstream), 2),
            }
        finally:
            test_fake.stop()
        for name in sections:
            print(f"running {name}…", file=sys.stderr, flush=True)
            section_started = time.perf_counter()
            try:
                section_results[name] = run_section(name, args, upstream)
            except Exception as exc:  # one broken section should not lose the others
                logging.exception("section %s failed", name)
                section_results[name] = {"skipped": f"failed: {type(exc).__name__}: {exc}"}
            timings[name] = round(time.perf_counter() - section_started, 1)
    for name in SECTIONS:
        if name not in section_results:
            section_results[name] = {"skipped": "not selected"}
    for section, key in HEADLINES:
        results[key] = section_results[section].get(key)
    machine["load_average_at_end"] = load_average()
    results["sections"] = section_results
    results["bars"] = report.judge(results)
    results["machine"] = machine
    results["section_seconds"] = timings
    results["elapsed_s"] = round(time.perf_counter() - started, 1)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    report.print_table(results)
    if args.markdown:
        print(report.markdown_table(results))
    print(f"wrote {args.out} in {results['elapsed_s']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
