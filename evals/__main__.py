"""CLI: `python -m evals run ...` (evals.runner), `python -m evals calibrate` (evals.calibrate),
`python -m evals retrieval` (evals.retrieval)
and `python -m evals compare OLD NEW`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from evals.gating import DEFAULT_THRESHOLDS
from evals.prices import DEFAULT_PRICES
from evals.run_config import RunConfig


def build_parser() -> argparse.ArgumentParser:
    """Argument parser for both subcommands."""
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the eval suite against the service")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--dataset",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="project JSONL, SQuAD JSON or MRQA JSONL file(s)",
    )
    source.add_argument(
        "--suite",
        type=Path,
        metavar="FILE",
        help="a suite file listing datasets with per-dataset task/limit (e.g. evals/suites/smoke.toml)",
    )
    source.add_argument(
        "--smoke",
        dest="suite",
        action="store_const",
        const=Path(__file__).resolve().parent / "suites" / "smoke.toml",
        help="the smoke suite CI runs (same as --suite evals/suites/smoke.toml)",
    )
    run.add_argument(
        "--task",
        choices=("qa", "summary"),
        default=None,
        help="only this task (default: every task the datasets support)",
    )
    run.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="first N cases per dataset (questions for qa, documents otherwise)",
    )
    target = run.add_mutually_exclusive_group()
    target.add_argument("--url", default=None, help="base URL of a running service")
    target.add_argument(
        "--in-process",
        action="store_true",
        help="run the Litestar app in-process instead of over the network",
    )
    run.add_argument(
        "--concurrency",
        type=int,
        default=2,
        metavar="K",
        help="requests in flight at once (default: 2)",
    )
    run.add_argument(
        "--judge-model",
        default=os.environ.get("EVAL_JUDGE_MODEL"),
        help="score summary faithfulness with this judge model (env EVAL_JUDGE_MODEL; "
        "key from EVAL_JUDGE_API_KEY or OPENAI_API_KEY)",
    )
    run.add_argument(
        "--judge-url",
        default=os.environ.get("EVAL_JUDGE_BASE_URL"),
        help="OpenAI-compatible endpoint of the judge (env EVAL_JUDGE_BASE_URL)",
    )
    run.add_argument("--summary-length", choices=("short", "medium", "long"), default="medium")
    run.add_argument("--out", type=Path, default=Path("eval-report"), metavar="DIR")
    run.add_argument(
        "--replay",
        action="store_true",
        help="replay recorded responses instead of calling the model",
    )
    run.add_argument("--thresholds", type=Path, default=DEFAULT_THRESHOLDS, metavar="FILE")
    run.add_argument("--prices", type=Path, default=DEFAULT_PRICES, metavar="FILE")
    run.add_argument(
        "--answerability-threshold",
        type=float,
        default=None,
        metavar="T",
        help="count answers scoring below T as withheld (default: the service's "
        "ANSWERABILITY_THRESHOLD); the report draws the whole trade-off either way",
    )

    cal = sub.add_parser(
        "calibrate",
        help="fit the answerability model on the shared dev data (never the gated cases)",
    )
    cal.add_argument(
        "--limit", type=int, default=None, metavar="N", help="a seeded sample of N questions"
    )
    cal.add_argument("--seed", type=int, default=0)
    cal.add_argument(
        "--refit",
        action="store_true",
        help="ask no model: fit on the questions already collected in --out",
    )
    cal.add_argument("--out", type=Path, default=Path("evals/reports/calibration"), metavar="DIR")
    cal.add_argument(
        "--weights",
        type=Path,
        default=Path(__file__).resolve().parent.parent
        / "service"
        / "grounding"
        / "answerability.json",
        metavar="FILE",
        help="where to write the fitted model (default: the one the service ships)",
    )

    ret = sub.add_parser(
        "retrieval",
        help="how often the answer evidence holds the gold answer: BM25 vs BM25 + dense",
    )
    ret.add_argument(
        "--limit", type=int, default=None, metavar="N", help="first N questions per dataset"
    )
    ret.add_argument("--out", type=Path, default=None, metavar="FILE.json")

    cmp = sub.add_parser("compare", help="compare two report.json files (paired bootstrap)")
    cmp.add_argument("old", type=Path, metavar="OLD.json")
    cmp.add_argument("new", type=Path, metavar="NEW.json")
    cmp.add_argument("--resamples", type=int, default=1000)
    cmp.add_argument("--seed", type=int, default=0)
    return parser  # fmt: skip


def run_config(args: argparse.Namespace) -> RunConfig:
    """The parsed `run` arguments as a RunConfig (--in-process is the absence of --url)."""
    return RunConfig(
        datasets=tuple(args.dataset or ()),
        suite=args.suite,
        task=args.task,
        limit=args.limit,
        url=args.url,
        concurrency=args.concurrency,
        judge_model=args.judge_model,
        judge_url=args.judge_url,
        summary_length=args.summary_length,
        out=args.out,
        replay=args.replay,
        thresholds=args.thresholds,
        prices=args.prices,
        answerability_threshold=args.answerability_threshold,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "run":
        # Imported lazily: the runner pulls in the HTTP client and possibly the service.
        from evals.runner import run

        return run(run_config(args))

    if args.command == "calibrate":
        from evals.calibrate import calibrate

        result = calibrate(args.limit, args.seed, args.out, args.weights, args.refit)
        chosen = result["provenance"]["at_threshold"]
        print(json.dumps(result["provenance"], indent=2))
        print(
            f"threshold {chosen['threshold']:.3f}: F1 {chosen['f1']:.3f}, HasAns F1 "
            f"{chosen['HasAns_f1']:.3f}, NoAns accuracy {chosen['NoAns_accuracy']:.3f} "
            f"(cross-validated); set ANSWERABILITY_THRESHOLD's default to it"
        )
        return 0

    if args.command == "retrieval":
        from evals.retrieval import format_results, measure

        results = measure(args.limit)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
        print(format_results(results))
        return 0

    from evals.compare import compare, format_comparison

    comparison = compare(args.old, args.new, resamples=args.resamples, seed=args.seed)
    print(format_comparison(comparison))
    return 1 if comparison.quality_regressions else 0


if __name__ == "__main__":
    sys.exit(main())
