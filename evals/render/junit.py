"""junit.xml: one test case per model case and per threshold, for CI test views."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from evals.render.common import case_failure, format_value, model_cases
from evals.schema import TASKS

if TYPE_CHECKING:
    # Types only: evals.report imports the renderers to write a report's files.
    from evals.report import Report


def render_junit(report: Report) -> bytes:
    """JUnit XML: one testcase per model case (fails on error/invalid citation), one per gate."""
    root = ET.Element("testsuites", name="evals")
    for task in TASKS:
        cases = model_cases(report, task)
        if not cases:
            continue
        suite = ET.SubElement(root, "testsuite", name=f"evals.{task}")
        failures = 0
        for case in cases:
            latency = case.components.get("latency_ms")
            tc = ET.SubElement(
                suite,
                "testcase",
                classname=f"evals.{task}.{case.system}",
                name=case.case_id,
                time=f"{(latency or 0.0) / 1000:.3f}",
            )
            reason = case_failure(case)
            if reason:
                failures += 1
                ET.SubElement(tc, "failure", message=reason[:500]).text = reason
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
    gates = ET.SubElement(root, "testsuite", name="evals.thresholds")
    failures = skipped = 0
    for r in report.thresholds:
        tc = ET.SubElement(gates, "testcase", classname="evals.thresholds", name=r.key)
        if r.status == "fail":
            failures += 1
            msg = f"{r.metric} = {format_value(r.metric, r.value)}; required {r.op} {r.threshold}"
            ET.SubElement(tc, "failure", message=msg).text = r.reason or msg
        elif r.status == "skip":
            skipped += 1
            ET.SubElement(tc, "skipped", message=r.reason)
    gates.set("tests", str(len(report.thresholds)))
    gates.set("failures", str(failures))
    gates.set("skipped", str(skipped))
    gates.set("errors", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
