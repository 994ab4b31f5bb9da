"""Thresholds: parsing, pass/fail/skip, and the non-negotiable citation validity."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.gating import (
    DEFAULT_THRESHOLDS,
    Threshold,
    all_passed,
    evaluate_thresholds,
    load_thresholds,
    parse_thresholds,
)


def aggs(**model: float | None) -> dict:
    base = {"f1": 0.2, "citation_validity": 1.0}
    return {"qa": {"model": {"citation_validity": 1.0, **model}, "bm25": base}}


def by_key(results: list) -> dict:
    return {(r.task, r.metric, r.op): r for r in results}


def test_default_thresholds_file_gates_both_tasks_above_zero() -> None:
    # Calibrated gates, not placeholders: every quality floor is well above zero.
    thresholds = load_thresholds()
    assert {t.task for t in thresholds} == {"qa", "summary"}
    floors = {(t.task, t.metric): t.value for t in thresholds if t.op == ">="}
    assert floors[("qa", "f1")] >= 0.2 and floors[("summary", "rouge1")] >= 0.2
    assert "placeholder" not in DEFAULT_THRESHOLDS.read_text().lower()


def test_min_and_max_thresholds() -> None:
    ts = parse_thresholds({"qa": {"f1_min": 0.5, "error_rate_max": 0.0}})
    assert ts == [Threshold("qa", "f1", ">=", 0.5), Threshold("qa", "error_rate", "<=", 0.0)]
    ok = evaluate_thresholds(aggs(f1=0.5, error_rate=0.0), ts)
    assert all_passed(ok) and [r.status for r in ok] == ["pass", "pass", "pass"]
    assert [r.key for r in ok] == ["qa.citation_validity_eq", "qa.f1_min", "qa.error_rate_max"]
    bad = by_key(evaluate_thresholds(aggs(f1=0.49, error_rate=0.01), ts))
    assert bad[("qa", "f1", ">=")].status == "fail"
    assert bad[("qa", "f1", ">=")].baseline == 0.2
    assert bad[("qa", "error_rate", "<=")].status == "fail"
    assert not all_passed(list(bad.values()))


def test_citation_validity_below_one_always_fails() -> None:
    results = evaluate_thresholds(aggs(citation_validity=0.999), [])
    (r,) = results
    assert (r.metric, r.status) == ("citation_validity", "fail") and not all_passed(results)


def test_citation_validity_cannot_be_relaxed() -> None:
    # A lenient user threshold does not override the built-in == 1.0 check.
    ts = parse_thresholds({"qa": {"citation_validity_min": 0.5}})
    assert not all_passed(evaluate_thresholds(aggs(citation_validity=0.9), ts))


def test_no_citations_at_all_does_not_fail_validity() -> None:
    assert all_passed(evaluate_thresholds(aggs(citation_validity=None), []))


def test_undefined_metric_fails_and_missing_task_skips() -> None:
    ts = parse_thresholds({"qa": {"abstention_precision_min": 0.1}, "summary": {"rouge1_min": 0.3}})
    r = by_key(evaluate_thresholds(aggs(abstention_precision=None), ts))
    assert r[("qa", "abstention_precision", ">=")].status == "fail"
    assert r[("summary", "rouge1", ">=")].status == "skip"
    assert r[("summary", "rouge1", ">=")].passed  # a skip does not fail the run


@pytest.mark.parametrize(
    "bad",
    [{"qa": {"f1": 0.5}}, {"qa": {"f2_min": 0.5}}, {"qa": {"rouge1_min": 0.5}}, {"qa": 1}],
)
def test_bad_threshold_keys_raise(bad: dict) -> None:
    with pytest.raises(ValueError, match="thresholds"):
        parse_thresholds(bad)


def test_load_thresholds_from_file(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("[summary]\nrouge2_min = 0.1\nlatency_p95_ms_max = 2000\n")
    assert load_thresholds(path) == [
        Threshold("summary", "rouge2", ">=", 0.1),
        Threshold("summary", "latency_p95_ms", "<=", 2000.0),
    ]
