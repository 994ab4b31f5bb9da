"""Paired bootstrap comparison of two reports, and the `compare` CLI exit code."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from evals.__main__ import main
from evals.compare import bootstrap_deltas, compare, format_comparison
from evals.report import Report, build_report, write_reports
from evals.run_config import RunConfig
from evals.schema import CaseRecord, RunResult


def qa_record(i: int, f1: float, *, error: float = 0.0, latency: float = 100.0) -> CaseRecord:
    return CaseRecord(
        task="qa",
        system="model",
        case_id=f"doc::q{i}",
        document_id="doc",
        components={
            "has_ans": 1.0, "no_ans": 0.0, "em": float(f1 == 1.0), "f1": f1, "abstained": 0.0,
            "evidence_hit": 1.0, "cited_sentences": 1.0, "cited_relevant": 1.0,
            "citations": 1.0, "citations_valid": 1.0, "latency_ms": latency, "error": error,
            "cached": 0.0, "degraded": 0.0, "prompt_tokens": 10.0, "completion_tokens": 5.0,
            "calls": 1.0, "cost_usd": 0.0,
        },
    )  # fmt: skip


def report(records: list[CaseRecord]) -> Report:
    return build_report(RunResult(config={}, cases=records))


def deltas_by_metric(comparison) -> dict:
    return {(d.task, d.metric): d for d in comparison.deltas}


def test_identical_runs_are_not_flagged() -> None:
    recs = [qa_record(i, f1=(i % 3) / 2) for i in range(60)]
    c = compare(report(recs), report(recs))
    assert c.deltas and not c.regressions
    f1 = deltas_by_metric(c)[("qa", "f1")]
    assert f1.delta == 0.0 and f1.ci_low == 0.0 and f1.ci_high == 0.0


def test_clear_regression_is_flagged() -> None:
    old = [qa_record(i, f1=1.0) for i in range(60)]
    new = [qa_record(i, f1=1.0 if i % 2 else 0.0) for i in range(60)]
    c = compare(report(old), report(new))
    f1 = deltas_by_metric(c)[("qa", "f1")]
    assert f1.delta == pytest.approx(-0.5) and f1.n == 60
    assert f1.ci_high < 0 and f1.regression and f1 in c.quality_regressions
    assert "REGRESSION" in format_comparison(c)
    # The reverse direction is an improvement, not a regression.
    back = deltas_by_metric(compare(report(new), report(old)))[("qa", "f1")]
    assert back.improvement and not back.regression


def test_noise_is_not_flagged() -> None:
    # One case out of 60 changes: the CI straddles 0.
    old = [qa_record(i, f1=1.0 if i % 2 else 0.0) for i in range(60)]
    new = [qa_record(i, f1=1.0 if i % 2 or i == 0 else 0.0) for i in range(60)]
    new[1] = qa_record(1, f1=0.0)
    f1 = deltas_by_metric(compare(report(old), report(new)))[("qa", "f1")]
    assert f1.ci_low < 0 < f1.ci_high and not f1.regression


def test_lower_is_better_metrics_regress_upwards() -> None:
    old = [qa_record(i, f1=1.0) for i in range(40)]
    new = [qa_record(i, f1=1.0, error=float(i % 2), latency=300.0) for i in range(40)]
    d = deltas_by_metric(compare(report(old), report(new)))
    assert d[("qa", "error_rate")].regression and d[("qa", "error_rate")].quality
    lat = d[("qa", "latency_p50_ms")]
    assert lat.regression and not lat.quality  # flagged but informational


def test_only_shared_cases_are_paired() -> None:
    old = [qa_record(i, f1=1.0) for i in range(10)]
    new = [qa_record(i, f1=1.0) for i in range(5, 20)]
    c = compare(report(old), report(new))
    assert c.only_old["qa"] == 5 and c.only_new["qa"] == 10
    assert deltas_by_metric(c)[("qa", "f1")].n == 5
    assert "only in old" in format_comparison(c)


def test_bootstrap_is_seeded_and_paired() -> None:
    old = [qa_record(i, f1=i / 50).components for i in range(50)]
    new = [qa_record(i, f1=i / 50 + 0.01).components for i in range(50)]
    a = bootstrap_deltas("qa", old, new, resamples=1000, seed=0)["f1"]
    b = bootstrap_deltas("qa", old, new, resamples=1000, seed=0)["f1"]
    assert a.shape == (1000,) and (a == b).all()
    # Paired resampling: every case gains exactly 0.01, so every replicate does too.
    assert a == pytest.approx(0.01)


def test_cli_compare_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write_reports(report([qa_record(i, f1=1.0) for i in range(40)]), tmp_path / "old")
    new = write_reports(
        report([qa_record(i, f1=float(i % 2)) for i in range(40)]), tmp_path / "new"
    )
    assert main(["compare", str(old["json"]), str(old["json"])]) == 0
    assert main(["compare", str(old["json"]), str(new["json"])]) == 1
    assert "REGRESSION" in capsys.readouterr().out


def test_cli_run_delegates_to_runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = {}

    def fake_run(config: RunConfig) -> int:
        seen["config"] = config
        return 3

    fake = types.ModuleType("evals.runner")
    fake.run = fake_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "evals.runner", fake)
    import evals

    monkeypatch.setattr(evals, "runner", fake, raising=False)
    argv = ["run", "--dataset", "a.jsonl", "b.json", "--task", "qa", "--limit", "5",
            "--in-process", "--concurrency", "2", "--out", str(tmp_path), "--replay"]  # fmt: skip
    assert main(argv) == 3
    config = seen["config"]
    assert isinstance(config, RunConfig)
    assert [p.name for p in config.datasets] == ["a.jsonl", "b.json"]
    assert (config.task, config.limit, config.url, config.suite) == ("qa", 5, None, None)
    assert (config.concurrency, config.out, config.replay) == (2, tmp_path, True)
    assert config.thresholds.name == "thresholds.toml"


def test_cli_rejects_url_with_in_process() -> None:
    with pytest.raises(SystemExit):
        main(["run", "--dataset", "x", "--url", "http://localhost:8000", "--in-process"])
