"""report.md: a compact table per task, for a pull request comment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evals.render.common import baseline_name, case_failure, model_cases, task_rows
from evals.schema import TASKS

if TYPE_CHECKING:
    # Types only: evals.report imports the renderers to write a report's files.
    from evals.report import Report


def render_markdown(report: Report) -> str:
    """A compact table per task for a pull request comment."""
    verdict = "PASS" if report.passed else "FAIL"
    lines = [
        f"## Eval report: {verdict}",
        "",
        f"metrics `{report.metrics_version}` · {report.created_at}"
        f" · {len(model_cases(report))} model cases",
        "",
    ]
    for task in TASKS:
        if task not in report.aggregates:
            continue
        base = baseline_name(report, task) or "baseline"
        lines += [
            f"### {task}",
            "",
            f"| metric | model | baseline ({base}) | threshold | pass |",
            "| --- | ---: | ---: | --- | --- |",
        ]
        for metric, model, baseline, gate, status in task_rows(report, task):
            shown = {"fail": "**FAIL**", "pass": "pass", "skip": "skip"}.get(status, "")
            lines.append(f"| {metric} | {model} | {baseline} | {gate} | {shown} |")
        lines.append("")
    lines += tradeoff_lines(report)
    failed = [r for r in report.thresholds if r.status == "fail"]
    if failed:
        lines += ["**Failed thresholds**", ""]
        lines += [f"- `{r.task}.{r.metric}` {r.reason}" for r in failed]
        lines.append("")
    broken = [c for c in model_cases(report) if case_failure(c)]
    if broken:
        lines.append(f"**{len(broken)} failed case(s)** (see junit.xml / report.html)")
        lines.append("")
    lines += ["<details><summary>Metric definitions</summary>", ""]
    lines += [f"- **{name}**: {text}" for name, text in report.definitions.items()]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def tradeoff_lines(report: Report) -> list[str]:
    """The answerability trade-off: every fifth threshold and the one in use, marked."""
    if not report.tradeoff:
        return []
    chosen = report.config.get("answerability_threshold")
    lines = [
        "### qa: answerability trade-off",
        "",
        'Answers scoring below the threshold are withheld ("not in the article").',
        "",
        "| threshold | F1 | HasAns F1 | NoAns accuracy |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for point in report.tradeoff:
        t = point["threshold"]
        marked = chosen is not None and abs(t - float(chosen)) < 1e-9
        if not marked and round(t * 20) % 4:
            continue
        label = f"**{t:.2f} (in use)**" if marked else f"{t:.2f}"
        lines.append(
            f"| {label} | {point['f1']:.3f} | {point['HasAns_f1']:.3f} | "
            f"{point['NoAns_accuracy']:.3f} |"
        )
    if chosen is not None and not any(
        abs(p["threshold"] - float(chosen)) < 1e-9 for p in report.tradeoff
    ):
        lines.append(f"| {float(chosen):.2f} (in use) | see the qa table above | | |")
    return [*lines, ""]
