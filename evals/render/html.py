"""report.html: one offline page (inline CSS and SVG charts, no scripts or fetched resources)."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from evals.metrics import METRICS
from evals.render.common import (
    baseline_name,
    case_failure,
    format_value,
    model_cases,
    pretty_json,
    task_rows,
)
from evals.schema import MODEL, TASKS

if TYPE_CHECKING:
    # Types only: evals.report imports the renderers to write a report's files.
    from evals.report import Report

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d232a;
max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #d0d7de;padding:3px 8px}
th{background:#f3f5f7;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:700}.skip{color:#6e7781}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff}
.badge.pass{background:#1a7f37}.badge.fail{background:#cf222e}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px}
svg text{font:11px system-ui,sans-serif}small{color:#57606a}
"""
_MODEL_COLOR = "#0969da"
_BASE_COLOR = "#a0a7b0"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def svg_metric_bars(
    metrics: Sequence[str],
    model: Mapping[str, float | None],
    baseline: Mapping[str, float | None],
    thresholds: Mapping[str, float] | None = None,
    *,
    baseline_label: str = "baseline",
) -> str:
    """Horizontal grouped bars (0..1) per metric, model vs baseline, with threshold ticks."""
    thresholds = thresholds or {}
    label_w, bar_w, bar_h, gap = 170, 420, 11, 10
    row_h = 2 * bar_h + gap
    height = 30 + row_h * len(metrics)
    width = label_w + bar_w + 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="metrics, model vs baseline">',
        f'<rect x="{label_w}" y="4" width="10" height="10" fill="{_MODEL_COLOR}"/>'
        f'<text x="{label_w + 14}" y="13">model</text>'
        f'<rect x="{label_w + 70}" y="4" width="10" height="10" fill="{_BASE_COLOR}"/>'
        f'<text x="{label_w + 84}" y="13">{_e(baseline_label)}</text>',
    ]
    for i, name in enumerate(metrics):
        y = 24 + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h + 4}" text-anchor="end">{_e(name)}</text>'
        )
        for j, (values, color) in enumerate(((model, _MODEL_COLOR), (baseline, _BASE_COLOR))):
            v = values.get(name)
            by = y + j * bar_h
            if v is None:
                parts.append(f'<text x="{label_w + 4}" y="{by + 9}" fill="#6e7781">n/a</text>')
                continue
            w = max(0.0, min(1.0, v)) * bar_w
            parts.append(
                f'<rect x="{label_w}" y="{by}" width="{w:.1f}" height="{bar_h - 1}" fill="{color}">'
                f"<title>{_e(name)}: {v:.4f}</title></rect>"
                f'<text x="{label_w + w + 4:.1f}" y="{by + 9}">{v:.3f}</text>'
            )
        if name in thresholds:
            tx = label_w + max(0.0, min(1.0, thresholds[name])) * bar_w
            parts.append(
                f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{y - 2}" y2="{y + 2 * bar_h + 1}" '
                f'stroke="#cf222e" stroke-width="2">'
                f"<title>threshold {thresholds[name]}</title></line>"
            )
    parts.append("</svg>")
    return "".join(parts)


def svg_histogram(values: Iterable[float | None], *, bins: int = 20, unit: str = "ms") -> str:
    """A histogram of (latency) values as inline SVG."""
    data = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    width, height, pad = 560, 200, 36
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="latency histogram">'
    )
    if data.size == 0:
        return head + '<text x="10" y="20">no latency data</text></svg>'
    counts, edges = np.histogram(data, bins=max(1, min(bins, data.size)))
    plot_w, plot_h = width - 2 * pad, height - 2 * pad
    bw = plot_w / len(counts)
    top = max(int(counts.max()), 1)
    parts = [head]
    for i, c in enumerate(counts):
        h = plot_h * c / top
        x = pad + i * bw
        parts.append(
            f'<rect x="{x:.1f}" y="{pad + plot_h - h:.1f}" width="{max(bw - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="{_MODEL_COLOR}"><title>{edges[i]:.0f}–{edges[i + 1]:.0f} '
            f"{unit}: {int(c)}</title></rect>"
        )
    y0 = pad + plot_h
    parts += [
        f'<line x1="{pad}" x2="{pad + plot_w}" y1="{y0}" y2="{y0}" stroke="#57606a"/>',
        f'<text x="{pad}" y="{y0 + 14}">{edges[0]:.0f} {unit}</text>',
        f'<text x="{pad + plot_w}" y="{y0 + 14}" text-anchor="end">{edges[-1]:.0f} {unit}</text>',
        f'<text x="{pad - 4}" y="{pad + 4}" text-anchor="end">{top}</text>',
        f'<text x="{pad - 4}" y="{y0}" text-anchor="end">0</text>',
        f'<text x="{width / 2}" y="{height - 4}" text-anchor="middle">'
        f"request latency ({unit}), n={data.size}</text>",
        "</svg>",
    ]
    return "".join(parts)


def svg_tradeoff(curve: Sequence[dict[str, float]], chosen: float | None) -> str:
    """HasAns F1 and NoAns accuracy (and overall F1) against the answerability
    threshold, the threshold in use marked: the trade-off it picks a point on."""
    width, height, pad = 560, 240, 40
    plot_w, plot_h = width - 2 * pad, height - 2 * pad

    def xy(t: float, v: float) -> str:
        return f"{pad + t * plot_w:.1f},{pad + (1 - v) * plot_h:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="answerability trade-off">',
        f'<rect x="{pad}" y="{pad}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#d0d7de"/>',
    ]
    series = (
        ("HasAns_f1", _MODEL_COLOR, "HasAns F1"),
        ("NoAns_accuracy", "#bc4c00", "NoAns accuracy"),
        ("f1", "#1a7f37", "F1"),
    )
    for key, color, label in series:
        points = " ".join(xy(p["threshold"], p[key]) for p in curve)
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2">'
            f"<title>{label}</title></polyline>"
        )
    if chosen is not None:
        x = pad + chosen * plot_w
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad}" y2="{pad + plot_h}" stroke="#57606a" '
            f'stroke-dasharray="4 3"><title>in use: {chosen:g}</title></line>'
        )
    for i, (_, color, label) in enumerate(series):
        parts.append(
            f'<text x="{pad + 8 + i * 150}" y="{pad - 8}" fill="{color}">{_e(label)}</text>'
        )
    parts += [
        f'<text x="{pad}" y="{height - 8}">0</text>',
        f'<text x="{pad + plot_w}" y="{height - 8}" text-anchor="end">1</text>',
        f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle">answerability threshold'
        "</text>",
        "</svg>",
    ]
    return "".join(parts)


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    out = ["<table><tr>", *(f"<th>{_e(h)}</th>" for h in header), "</tr>"]
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            if cell in ("pass", "fail", "skip"):
                cls = f' class="{cell}"'
            out.append(f"<td{cls}>{_e(cell)}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _html_task(report: Report, task: str) -> str:
    systems = report.aggregates[task]
    base = baseline_name(report, task)
    rows = task_rows(report, task)
    table = _html_table(
        ["metric", "model", f"baseline ({base or 'none'})", "threshold", "pass"], rows, {1, 2}
    )
    bar_metrics = [
        m.name
        for m in METRICS
        if task in m.tasks and m.higher_is_better and m.quality and m.name in systems.get(MODEL, {})
    ]
    gates = {
        r.metric: r.threshold for r in report.thresholds if r.task == task and r.op in (">=", "==")
    }
    bars = svg_metric_bars(
        bar_metrics,
        systems.get(MODEL, {}),
        systems.get(base or "", {}),
        gates,
        baseline_label=base or "baseline",
    )
    latencies = [c.components.get("latency_ms") for c in model_cases(report, task)]
    failed = [
        (c.case_id, case_failure(c) or "") for c in model_cases(report, task) if case_failure(c)
    ]
    failed_html = (
        _html_table(["case", "why"], failed[:200], set()) if failed else "<p>No failed cases.</p>"
    )
    sample = [
        (c.case_id, c.question or "", c.prediction or "(no answer)", c.reference or "")
        for c in model_cases(report, task)[:200]
    ]
    chosen = report.config.get("answerability_threshold")
    tradeoff = (
        "<h3>Answerability trade-off</h3>"
        + svg_tradeoff(report.tradeoff, None if chosen is None else float(chosen))
        if task == "qa" and report.tradeoff
        else ""
    )
    return (
        f"<h2>{_e(task)}</h2>{table}<h3>Model vs baseline</h3>{bars}{tradeoff}"
        f"<h3>Latency</h3>{svg_histogram(latencies)}"
        f"<h3>Failed cases</h3>{failed_html}"
        f"<details><summary>First {len(sample)} model cases</summary>"
        f"{_html_table(['case', 'question', 'prediction', 'reference'], sample, set())}</details>"
    )


def render_html(report: Report) -> str:
    """A self-contained HTML page (inline CSS and SVG, no scripts or external resources)."""
    verdict = "pass" if report.passed else "fail"
    gates = _html_table(
        ["threshold", "value", "baseline", "status", "reason"],
        [
            (
                f"{r.task}.{r.metric} {r.op} {r.threshold:g}",
                format_value(r.metric, r.value),
                format_value(r.metric, r.baseline),
                r.status,
                r.reason,
            )
            for r in report.thresholds
        ],
        {1, 2},
    )
    tasks = "".join(_html_task(report, t) for t in TASKS if t in report.aggregates)
    definitions = "".join(
        f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in report.definitions.items()
    )
    config = pretty_json(report.config).decode()
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Eval report ({verdict})</title><style>{_CSS}</style></head><body>"
        f'<h1>Eval report <span class="badge {verdict}">{verdict.upper()}</span></h1>'
        f"<p><small>metrics {_e(report.metrics_version)} · {_e(report.created_at)}"
        f" · {len(model_cases(report))} model cases</small></p>"
        f"<h2>Thresholds</h2>{gates}{tasks}"
        f"<h2>Metric definitions</h2><ul>{definitions}</ul>"
        f"<h2>Config</h2><pre>{_e(config)}</pre></body></html>\n"
    )
