"""A run's report: the Report data, built from a run's cases, loaded and written to disk.

report.json is the Report itself; report.md, junit.xml and report.html are rendered from it
by the modules in evals/render/.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec

from evals.gating import Threshold, ThresholdResult, all_passed, evaluate_thresholds
from evals.metrics import METRICS_VERSION, aggregate_records, metric_definitions, tradeoff
from evals.render.common import pretty_json
from evals.render.html import render_html
from evals.render.junit import render_junit
from evals.render.markdown import render_markdown
from evals.schema import CaseRecord, RunResult

REPORT_SCHEMA = "evals-report/1"


class Report(msgspec.Struct):
    """Everything a run produced; report.json is this Struct encoded."""

    metrics_version: str
    created_at: str
    config: dict[str, Any]
    definitions: dict[str, str]
    aggregates: dict[str, dict[str, dict[str, float | None]]]  # task -> system -> metric
    thresholds: list[ThresholdResult]
    passed: bool
    cases: list[CaseRecord]
    schema: str = REPORT_SCHEMA
    # QA: metrics had answers below each answerability threshold been withheld.
    tradeoff: list[dict[str, float]] = msgspec.field(default_factory=list)


def build_report(run: RunResult, thresholds: list[Threshold] | None = None) -> Report:
    """Aggregate the run's cases per task and system and evaluate the thresholds."""
    aggregates = aggregate_records(run.cases)
    results = evaluate_thresholds(aggregates, thresholds or [])
    return Report(
        metrics_version=METRICS_VERSION,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        config=run.config,
        definitions=metric_definitions(),
        aggregates=aggregates,
        thresholds=results,
        passed=all_passed(results),
        cases=run.cases,
        tradeoff=tradeoff(run.cases),
    )


def load_report(path: Path | str) -> Report:
    """Read a report.json written by write_reports."""
    return msgspec.json.decode(Path(path).read_bytes(), type=Report)


def write_reports(report: Report, out_dir: Path | str) -> dict[str, Path]:
    """Write report.json, report.md, junit.xml and report.html; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "report.json",
        "md": out / "report.md",
        "junit": out / "junit.xml",
        "html": out / "report.html",
    }
    paths["json"].write_bytes(pretty_json(report) + b"\n")
    paths["md"].write_text(render_markdown(report), encoding="utf-8")
    paths["junit"].write_bytes(render_junit(report))
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths
