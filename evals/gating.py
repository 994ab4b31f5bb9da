"""Evaluate thresholds.toml against a run's aggregates: pass/fail per threshold."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

from evals.baselines import BASELINE_FOR_TASK
from evals.metrics import METRIC_BY_NAME
from evals.schema import MODEL

DEFAULT_THRESHOLDS = Path(__file__).with_name("thresholds.toml")

Status = Literal["pass", "fail", "skip"]
Aggregates = Mapping[str, Mapping[str, Mapping[str, float | None]]]  # task -> system -> metric
_SUFFIX = {">=": "min", "<=": "max", "==": "eq"}


class Threshold(msgspec.Struct, frozen=True):
    """One gate: aggregates[task]['model'][metric] op value."""

    task: str
    metric: str
    op: Literal[">=", "<=", "=="]
    value: float


class ThresholdResult(msgspec.Struct):
    """Outcome of one threshold."""

    task: str
    metric: str
    op: str
    threshold: float
    value: float | None
    baseline: float | None
    status: Status
    reason: str = ""

    @property
    def key(self) -> str:
        """The gate's name as thresholds.toml spells it, e.g. 'qa.f1_min' (built-in: '_eq')."""
        return f"{self.task}.{self.metric}_{_SUFFIX.get(self.op, self.op)}"

    @property
    def passed(self) -> bool:
        """True unless the threshold failed (skips do not fail a run)."""
        return self.status != "fail"


def parse_thresholds(data: Mapping[str, object]) -> list[Threshold]:
    """Turn {task: {metric_min|metric_max: value}} into Thresholds; unknown metrics raise."""
    out: list[Threshold] = []
    for task, table in data.items():
        if not isinstance(table, Mapping):
            raise ValueError(f"thresholds: [{task}] must be a table")
        for key, value in table.items():
            metric, _, suffix = key.rpartition("_")
            if suffix not in ("min", "max") or not metric:
                raise ValueError(f"thresholds: {task}.{key}: key must end in _min or _max")
            spec = METRIC_BY_NAME.get(metric)
            if spec is None or task not in spec.tasks:
                # A typo would otherwise silently gate nothing.
                raise ValueError(f"thresholds: {task}.{key}: no metric {metric!r} for {task}")
            op: Literal[">=", "<="] = ">=" if suffix == "min" else "<="
            out.append(Threshold(task=task, metric=metric, op=op, value=float(value)))
    return out


def load_thresholds(path: Path | str | None = None) -> list[Threshold]:
    """Read and validate a thresholds TOML file (default evals/thresholds.toml)."""
    with Path(path or DEFAULT_THRESHOLDS).open("rb") as fh:
        return parse_thresholds(tomllib.load(fh))


def _check(t: Threshold, value: float) -> bool:
    if t.op == ">=":
        return value >= t.value
    if t.op == "<=":
        return value <= t.value
    return value == t.value


def evaluate_thresholds(
    aggregates: Aggregates, thresholds: list[Threshold], *, system: str = MODEL
) -> list[ThresholdResult]:
    """Check each threshold plus the built-in citation_validity == 1.0 for every task run."""
    ran = [task for task, systems in aggregates.items() if system in systems]
    # Validity is not configurable: any citation that does not quote the text is a bug.
    builtin = [Threshold(task=t, metric="citation_validity", op="==", value=1.0) for t in ran]
    results: list[ThresholdResult] = []
    for t in [*builtin, *thresholds]:
        systems = aggregates.get(t.task, {})
        baseline_metrics = systems.get(BASELINE_FOR_TASK.get(t.task, ""), {})
        baseline = baseline_metrics.get(t.metric)
        common = dict(task=t.task, metric=t.metric, op=t.op, threshold=t.value, baseline=baseline)
        if system not in systems:
            results.append(
                ThresholdResult(**common, value=None, status="skip", reason="task not run")
            )
            continue
        value = systems[system].get(t.metric)
        if value is None:
            if t.op == "==" and t.metric == "citation_validity":
                status, reason = "pass", "no citations to check"
            else:
                status, reason = "fail", "metric undefined on this run (no data)"
        else:
            status = "pass" if _check(t, value) else "fail"
            reason = "" if status == "pass" else f"{value:.4g} not {t.op} {t.value:.4g}"
        results.append(ThresholdResult(**common, value=value, status=status, reason=reason))
    return results


def all_passed(results: list[ThresholdResult]) -> bool:
    """True when no threshold failed."""
    return all(r.passed for r in results)
