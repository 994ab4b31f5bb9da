"""Report writers: parseable JSON and JUnit XML, offline HTML with SVG, PR markdown."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evals.baselines import bm25_answer, lead3_summary
from evals.datasets import EvalDocument, GoldAnswer, QACase
from evals.gating import parse_thresholds
from evals.metrics import METRICS_VERSION
from evals.render.html import svg_histogram, svg_metric_bars
from evals.render.markdown import render_markdown
from evals.report import build_report, load_report, write_reports
from evals.schema import AnswerResponse, Citation, RunResult
from evals.scoring import score_qa_case, score_summary_case

TEXT = "Paris is the capital of France. Berlin is in Germany. Rome is old."
SPANS = [(0, 31), (32, 53), (54, 66)]
Q1 = QACase("q1", "Capital of France?", True, [GoldAnswer("Paris", 0)])
Q2 = QACase("q2", "Capital of Spain?", False, [])
Q3 = QACase("q3", "Where is Berlin?", True, [GoldAnswer("Germany", 45)])
DOC = EvalDocument(
    "doc<1>",
    "Capitals",
    TEXT,
    "test",
    [Q1, Q2, Q3],
    reference_summary="Paris is the capital of France.",
)


def run_result() -> RunResult:
    good = AnswerResponse(True, "Paris", [Citation(0, 5, "Paris", 0, 0.9)], model="m")
    bad_cite = AnswerResponse(True, "Spain", [Citation(0, 5, "Spain", 0, 0.1)], model="m")
    cases = [
        score_qa_case(DOC, Q1, good, sentence_spans=SPANS, latency_ms=120.0),
        score_qa_case(DOC, Q2, bad_cite, sentence_spans=SPANS, latency_ms=340.0),
        score_qa_case(DOC, Q3, None, sentence_spans=SPANS, latency_ms=None, error="HTTP 500"),
        score_summary_case(DOC, lead3_summary(TEXT, SPANS), latency_ms=900.0),
    ]
    for q in DOC.questions:
        cases.append(
            score_qa_case(
                DOC,
                q,
                bm25_answer(TEXT, q.question, SPANS),
                sentence_spans=SPANS,
                system="bm25",
                latency_ms=1.0,
            )
        )
    cases.append(
        score_summary_case(DOC, lead3_summary(TEXT, SPANS), system="lead3", latency_ms=1.0)
    )
    return RunResult(config={"dataset": [Path("x.jsonl")], "limit": None}, cases=cases)


@pytest.fixture
def written(tmp_path: Path) -> dict[str, Path]:
    thresholds = parse_thresholds({"qa": {"f1_min": 0.1}, "summary": {"rouge1_min": 0.99}})
    return write_reports(build_report(run_result(), thresholds), tmp_path / "out")


def test_report_json(written: dict[str, Path]) -> None:
    data = json.loads(written["json"].read_text("utf-8"))
    assert data["metrics_version"] == METRICS_VERSION
    assert data["config"]["dataset"] == ["x.jsonl"]  # Paths are recorded as strings
    assert data["definitions"]["citation_validity"]
    assert set(data["aggregates"]["qa"]) == {"model", "bm25"}
    assert set(data["aggregates"]["summary"]) == {"model", "lead3"}
    assert data["aggregates"]["qa"]["model"]["citation_validity"] == 0.5
    assert data["aggregates"]["qa"]["model"]["error_rate"] == pytest.approx(1 / 3)
    assert len(data["cases"]) == 8
    # Validity 0.5 on QA and a failing ROUGE gate: the run fails.
    status = {(t["task"], t["metric"]): t["status"] for t in data["thresholds"]}
    assert status[("qa", "citation_validity")] == "fail"
    assert status[("summary", "citation_validity")] == "pass"
    assert status[("summary", "rouge1")] == "fail"
    assert data["passed"] is False
    assert load_report(written["json"]).aggregates == data["aggregates"]


def test_junit_xml(written: dict[str, Path]) -> None:
    root = ET.parse(written["junit"]).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    qa = suites["evals.qa"]
    cases = {tc.get("name"): tc for tc in qa.iter("testcase")}
    assert set(cases) == {"doc<1>::q1", "doc<1>::q2", "doc<1>::q3"}  # model cases only
    assert cases["doc<1>::q1"].find("failure") is None
    assert "invalid citation" in cases["doc<1>::q2"].find("failure").get("message")
    assert "HTTP 500" in cases["doc<1>::q3"].find("failure").get("message")
    assert qa.get("tests") == "3" and qa.get("failures") == "2"
    gates = {tc.get("name"): tc for tc in suites["evals.thresholds"].iter("testcase")}
    assert set(gates) == {
        "qa.citation_validity_eq",
        "summary.citation_validity_eq",
        "qa.f1_min",
        "summary.rouge1_min",
    }
    assert gates["qa.citation_validity_eq"].find("failure") is not None
    assert gates["summary.rouge1_min"].find("failure") is not None
    assert gates["summary.citation_validity_eq"].find("failure") is None


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_html_is_self_contained_with_svg_charts(written: dict[str, Path]) -> None:
    page = written["html"].read_text("utf-8")
    parser = _Collector()
    parser.feed(page)
    assert parser.tags.count("svg") >= 4  # bars + latency histogram for each task
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    # Nothing is fetched: no src/href attributes (xmlns is a namespace name, not a URL to load).
    assert not [a for a in parser.attrs if a[0] in ("src", "href")]
    assert "doc&lt;1&gt;::q2" in page and "doc<1>" not in page  # user text is escaped
    assert "FAIL" in page


def test_markdown_table(written: dict[str, Path]) -> None:
    md = written["md"].read_text("utf-8")
    assert "| metric | model | baseline (bm25) | threshold | pass |" in md
    assert "| citation_validity | 0.500 | 1.000 | == 1.000 | **FAIL** |" in md
    assert "| f1 |" in md and "Eval report: FAIL" in md


def test_markdown_pass_when_everything_passes() -> None:
    result = run_result()
    ok = [c for c in result.cases if c.citations_valid and not c.error]
    report = build_report(RunResult(config={}, cases=ok), [])
    assert report.passed and "Eval report: PASS" in render_markdown(report)


def test_svg_helpers() -> None:
    bars = svg_metric_bars(["f1", "exact"], {"f1": 0.5, "exact": None}, {"f1": 0.25}, {"f1": 0.4})
    assert bars.startswith("<svg") and bars.endswith("</svg>")
    assert ">0.500<" in bars and ">0.250<" in bars and "n/a" in bars and "threshold 0.4" in bars
    hist = svg_histogram([10.0, 20.0, None, 30.0])
    assert hist.count("<rect") == 3 and "n=3" in hist
    assert "no latency data" in svg_histogram([None])


def test_answers_below_the_answerability_threshold_count_as_withheld() -> None:
    # The service returns every answer (min_answerability 0); the eval holds each to the
    # threshold in use, as the service would have, and keeps what it would have scored.
    confident = AnswerResponse(True, "Paris", [Citation(0, 5, "Paris", 0, 1.0)], answerability=0.9)
    shaky = AnswerResponse(True, "Rome", [Citation(54, 58, "Rome", 2, 1.0)], answerability=0.3)
    right = score_qa_case(DOC, Q1, confident, sentence_spans=SPANS, answerability_threshold=0.5)
    withheld = score_qa_case(DOC, Q2, shaky, sentence_spans=SPANS, answerability_threshold=0.5)
    assert right.components["f1"] == 1.0 and right.prediction == "Paris"
    # An answer to an unanswerable question, withheld: the right abstention.
    assert withheld.components["abstained"] == 1.0 and withheld.components["f1"] == 1.0
    assert withheld.prediction is None and withheld.components["citations"] == 0.0
    assert withheld.components["f1_kept"] == 0.0 and withheld.components["answerability"] == 0.3


def test_the_tradeoff_curve_is_computed_from_the_scores() -> None:
    scored = [
        (Q1, "Paris", Citation(0, 5, "Paris", 0, 1.0), 0.8),
        (Q2, "Rome", Citation(54, 58, "Rome", 2, 1.0), 0.4),
        (Q3, "Germany", Citation(45, 52, "Germany", 1, 1.0), 0.6),
    ]
    cases = [
        score_qa_case(
            DOC,
            q,
            AnswerResponse(True, answer, [cite], answerability=score),
            sentence_spans=SPANS,
            answerability_threshold=0.5,
        )
        for q, answer, cite, score in scored
    ]
    report = build_report(RunResult(config={"answerability_threshold": 0.5}, cases=cases))
    curve = {p["threshold"]: p for p in report.tradeoff}
    # t=0: everything answered: HasAns 2/2 right, the unanswerable one answered (wrong).
    assert curve[0.0]["HasAns_f1"] == 1.0 and curve[0.0]["NoAns_accuracy"] == 0.0
    # t=0.5 (in use): Rome withheld; t=0.7: Germany withheld too; t=0.85: all withheld.
    assert curve[0.5]["f1"] == 1.0
    assert curve[0.7]["HasAns_f1"] == 0.5 and curve[0.7]["NoAns_accuracy"] == 1.0
    assert curve[0.85]["HasAns_f1"] == 0.0
    markdown = render_markdown(report)
    assert "**0.50 (in use)**" in markdown and "answerability trade-off" in markdown
