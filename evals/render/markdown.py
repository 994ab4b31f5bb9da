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
