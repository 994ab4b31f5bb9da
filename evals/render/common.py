"""What the renderers share: value formatting, the metric table rows, failed cases, JSON."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec

from evals.baselines import BASELINE_FOR_TASK
from evals.gating import ThresholdResult
from evals.metrics import METRICS
from evals.schema import MODEL, CaseRecord

if TYPE_CHECKING:
    # Types only: evals.report imports the renderers to write a report's files.
    from evals.report import Report


def _enc_hook(obj: object) -> object:
    # A run's config may hold values JSON has no type for, such as Paths; record them as strings.
    return str(obj)


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook)


def pretty_json(obj: object) -> bytes:
    """Indented JSON, used for report.json and the config shown in report.html."""
    return msgspec.json.format(_ENCODER.encode(obj))


def baseline_name(report: Report, task: str) -> str | None:
    """The baseline system shown next to the model for a task, if it ran."""
    systems = report.aggregates.get(task, {})
    preferred = BASELINE_FOR_TASK.get(task)
    if preferred in systems:
        return preferred
    others = [s for s in systems if s != MODEL]
    return others[0] if others else None


def format_value(metric: str, value: float | None) -> str:
    """Human formatting: counts as integers, ms without decimals, USD, else 3 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if metric.endswith("_ms"):
        return f"{value:.1f}" if value < 100 else f"{value:.0f}"
    if metric == "cost_usd":
        return f"${value:.4f}"
    if metric.endswith("total") or metric in ("cases", "prompt_tokens", "completion_tokens"):
        return f"{value:.0f}"
    return f"{value:.3f}"


def _threshold_map(report: Report, task: str) -> dict[str, ThresholdResult]:
    # The first result per metric wins; the built-in validity check comes first.
    out: dict[str, ThresholdResult] = {}
    for r in report.thresholds:
        if r.task == task:
            out.setdefault(r.metric, r)
    return out


def task_rows(report: Report, task: str) -> list[tuple[str, str, str, str, str]]:
    """(metric, model, baseline, threshold, pass) rows for one task."""
    systems = report.aggregates.get(task, {})
    model = systems.get(MODEL, {})
    base = systems.get(baseline_name(report, task) or "", {})
    gates = _threshold_map(report, task)
    rows = []
    for spec in METRICS:
        if task not in spec.tasks or (spec.name not in model and spec.name not in base):
            continue
        gate = gates.get(spec.name)
        rows.append(
            (
                spec.name,
                format_value(spec.name, model.get(spec.name)),
                format_value(spec.name, base.get(spec.name)),
                f"{gate.op} {format_value(spec.name, gate.threshold)}" if gate else "",
                gate.status if gate else "",
            )
        )
    return rows


def model_cases(report: Report, task: str | None = None) -> list[CaseRecord]:
    """The service's cases (not the baselines'), of one task or of all."""
    return [c for c in report.cases if c.system == MODEL and (task is None or c.task == task)]


def case_failure(case: CaseRecord) -> str | None:
    """Why a case counts as failed in the reports (request error or invalid citation)."""
    if case.error:
        return f"request failed: {case.error}"
    if not case.citations_valid:
        return "invalid citation: text[start:end] != quote or span out of range"
    return None
