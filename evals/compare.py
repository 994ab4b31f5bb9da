"""Compare two report.json files: per-metric deltas with paired bootstrap 95% CIs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import msgspec
import numpy as np

from evals.metrics import AGGREGATORS, METRIC_BY_NAME, component_arrays, none_if_nan
from evals.report import Report, load_report
from evals.schema import MODEL

RESAMPLES = 1000
SEED = 0
# Resamples are evaluated in blocks to bound memory to ~block x cases x components floats.
_BLOCK = 100


class MetricDelta(msgspec.Struct):
    """new - old for one metric on the paired cases, with its bootstrap CI."""

    task: str
    metric: str
    old: float | None
    new: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    higher_is_better: bool | None
    quality: bool
    n: int
    regression: bool = False
    improvement: bool = False


class Comparison(msgspec.Struct):
    """All metric deltas plus how many cases could not be paired."""

    deltas: list[MetricDelta]
    only_old: dict[str, int]
    only_new: dict[str, int]
    metrics_version_old: str
    metrics_version_new: str

    @property
    def regressions(self) -> list[MetricDelta]:
        """Metrics whose CI lies entirely on the worse side of 0."""
        return [d for d in self.deltas if d.regression]

    @property
    def quality_regressions(self) -> list[MetricDelta]:
        """Regressions in quality metrics (latency/tokens/cost are informational)."""
        return [d for d in self.regressions if d.quality]


def _paired(
    old: Report, new: Report, task: str, system: str
) -> tuple[list[Mapping[str, float | None]], list[Mapping[str, float | None]], int, int]:
    old_cases = {
        c.case_id: c.components for c in old.cases if c.task == task and c.system == system
    }
    new_cases = {
        c.case_id: c.components for c in new.cases if c.task == task and c.system == system
    }
    shared = sorted(old_cases.keys() & new_cases.keys())
    return (
        [old_cases[k] for k in shared],
        [new_cases[k] for k in shared],
        len(old_cases) - len(shared),
        len(new_cases) - len(shared),
    )


def bootstrap_deltas(
    task: str,
    old_components: list[Mapping[str, float | None]],
    new_components: list[Mapping[str, float | None]],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, np.ndarray]:
    """metric -> (resamples,) array of new-old aggregates over case indexes drawn jointly."""
    aggregate = AGGREGATORS[task]
    keys = sorted({k for c in [*old_components, *new_components] for k in c})
    # Same keys on both sides, so a component only one run recorded is NaN on the other.
    a_old = component_arrays([{k: c.get(k) for k in keys} for c in old_components])
    a_new = component_arrays([{k: c.get(k) for k in keys} for c in new_components])
    n = len(old_components)
    rng = np.random.default_rng(seed)
    blocks: dict[str, list[np.ndarray]] = {}
    done = 0
    while done < resamples:
        size = min(_BLOCK, resamples - done)
        # Paired: the same resampled case indexes for the old and the new run.
        idx = rng.integers(0, n, size=(size, n))
        agg_old = aggregate({k: v[idx] for k, v in a_old.items()})
        agg_new = aggregate({k: v[idx] for k, v in a_new.items()})
        for metric, value in agg_new.items():
            blocks.setdefault(metric, []).append(value - agg_old[metric])
        done += size
    return {metric: np.concatenate(parts) for metric, parts in blocks.items()}


def compare(
    old_report_json: Path | str | Report,
    new_report_json: Path | str | Report,
    *,
    system: str = MODEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = 0.95,
) -> Comparison:
    """Per-metric new-old deltas over cases present in both runs, with paired bootstrap CIs."""
    old = old_report_json if isinstance(old_report_json, Report) else load_report(old_report_json)
    new = new_report_json if isinstance(new_report_json, Report) else load_report(new_report_json)
    tail = (1 - confidence) / 2 * 100
    deltas: list[MetricDelta] = []
    only_old: dict[str, int] = {}
    only_new: dict[str, int] = {}
    for task in AGGREGATORS:
        old_c, new_c, n_old, n_new = _paired(old, new, task, system)
        only_old[task], only_new[task] = n_old, n_new
        if not old_c:
            continue
        point_old = AGGREGATORS[task](component_arrays(old_c))
        point_new = AGGREGATORS[task](component_arrays(new_c))
        boots = bootstrap_deltas(task, old_c, new_c, resamples=resamples, seed=seed)
        for metric, boot in boots.items():
            spec = METRIC_BY_NAME[metric]
            if spec.higher_is_better is None:
                continue  # counts and rates with no better direction
            o, nv = none_if_nan(point_old[metric]), none_if_nan(point_new[metric])
            finite = boot[~np.isnan(boot)]
            lo = hi = None
            if finite.size:
                lo, hi = (float(v) for v in np.percentile(finite, [tail, 100 - tail]))
            worse = better = False
            if lo is not None and hi is not None:
                worse = hi < 0 if spec.higher_is_better else lo > 0
                better = lo > 0 if spec.higher_is_better else hi < 0
            deltas.append(
                MetricDelta(
                    task=task,
                    metric=metric,
                    old=o,
                    new=nv,
                    delta=None if o is None or nv is None else nv - o,
                    ci_low=lo,
                    ci_high=hi,
                    higher_is_better=spec.higher_is_better,
                    quality=spec.quality,
                    n=len(old_c),
                    regression=worse,
                    improvement=better,
                )
            )
    return Comparison(
        deltas=deltas,
        only_old=only_old,
        only_new=only_new,
        metrics_version_old=old.metrics_version,
        metrics_version_new=new.metrics_version,
    )


def _f(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def format_comparison(comparison: Comparison) -> str:
    """A plain-text table: task, metric, old, new, delta, 95% CI, flag."""
    header = ("task", "metric", "old", "new", "delta", "95% CI", "")
    rows = [header]
    for d in comparison.deltas:
        flag = ""
        if d.regression:
            flag = "REGRESSION" if d.quality else "worse (ops)"
        elif d.improvement:
            flag = "improved"
        ci = f"[{_f(d.ci_low, True)}, {_f(d.ci_high, True)}]"
        rows.append((d.task, d.metric, _f(d.old), _f(d.new), _f(d.delta, True), ci, flag))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = []
    if comparison.metrics_version_old != comparison.metrics_version_new:
        notes.append(
            f"note: metrics versions differ ({comparison.metrics_version_old} -> "
            f"{comparison.metrics_version_new}); deltas may reflect metric changes"
        )
    for task in comparison.only_old:
        if comparison.only_old[task] or comparison.only_new[task]:
            notes.append(
                f"note: {task}: {comparison.only_old[task]} case(s) only in old, "
                f"{comparison.only_new[task]} only in new (excluded)"
            )
    n_reg = len(comparison.quality_regressions)
    notes.append(f"{n_reg} significant quality regression(s)")
    return "\n".join([*lines, "", *notes])
