"""The eval runner end to end (in-process service, scripted model): reports, gating exit codes,
resume; and the RunConfig that the CLI builds for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.__main__ import build_parser, main, run_config
from evals.run_config import RunConfig
from evals.runner import run
from tests.fakes.upstream import json_reply

ARTICLE = (
    "Normandy is a region in France. The Normans were descended from Norse raiders. "
    "Rollo was their first leader."
)
CASES = {
    "id": "tiny",
    "title": "Normans",
    "source": "test",
    "text": ARTICLE,
    "questions": [
        {
            "id": "q1",
            "question": "In what country is Normandy?",
            "answerable": True,
            "answers": [{"text": "France", "start": ARTICLE.index("France")}],
        },
        {
            "id": "q2",
            "question": "Who was the first leader of the Normans?",
            "answerable": True,
            "answers": [{"text": "Rollo", "start": ARTICLE.index("Rollo")}],
        },
    ],
}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text(json.dumps(CASES) + "\n", "utf-8")
    return path


@pytest.fixture
def scripted_env(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_BASE_URL", upstream.url)
    monkeypatch.setenv("LLM_MODEL", "scripted")
    monkeypatch.setenv("LLM_CACHE_DIR", str(tmp_path / "recordings"))
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    # Scored as the service returns them: no answer withheld by the calibrated
    # threshold (the runner's trade-off tests set their own).
    monkeypatch.setenv("ANSWERABILITY_THRESHOLD", "0")
    return upstream


def _thresholds(tmp_path: Path, f1_min: float) -> Path:
    path = tmp_path / f"thresholds-{f1_min}.toml"
    path.write_text(f"[qa]\nf1_min = {f1_min}\n", "utf-8")
    return path


def test_run_writes_all_reports_and_passes_its_gates(scripted_env, dataset, tmp_path):
    scripted_env.enqueue(
        json_reply({"answer": "France", "sentence": 1}),
        json_reply({"answer": "Rollo", "sentence": 3}),
    )
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--dataset",
            str(dataset),
            "--task",
            "qa",
            "--out",
            str(out),
            "--thresholds",
            str(_thresholds(tmp_path, 0.9)),
        ]
    )
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {
        "report.json",
        "report.md",
        "junit.xml",
        "report.html",
    }
    report = json.loads((out / "report.json").read_text())
    cases = [c for c in report["cases"] if c["system"] == "model"]
    assert sorted(c["prediction"] for c in cases) == ["France", "Rollo"]
    assert scripted_env.calls == 2


def test_runner_runs_from_python_without_argparse(scripted_env, dataset, tmp_path):
    scripted_env.default = json_reply({"answer": "France", "sentence": 1})
    out = tmp_path / "out"
    config = RunConfig(
        datasets=(dataset,), task="qa", out=out, thresholds=_thresholds(tmp_path, 0.0)
    )
    assert run(config) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["target"] == "in-process" and report["config"]["task"] == "qa"


def test_cli_defaults_are_the_run_config_defaults(monkeypatch):
    monkeypatch.delenv("EVAL_JUDGE_MODEL", raising=False)
    monkeypatch.delenv("EVAL_JUDGE_BASE_URL", raising=False)
    args = build_parser().parse_args(["run", "--dataset", "a.jsonl"])
    assert run_config(args) == RunConfig(datasets=(Path("a.jsonl"),))


def test_every_run_flag_reaches_the_run_config(monkeypatch, tmp_path):
    monkeypatch.setenv("EVAL_JUDGE_MODEL", "judge-from-env")
    monkeypatch.setenv("EVAL_JUDGE_BASE_URL", "http://judge.invalid/v1")
    args = build_parser().parse_args(
        ["run", "--smoke", "--task", "summary", "--limit", "3", "--url", "http://svc.invalid",
         "--concurrency", "5", "--summary-length", "long", "--out", str(tmp_path), "--replay",
         "--thresholds", "t.toml", "--prices", "p.toml"]
    )  # fmt: skip
    assert run_config(args) == RunConfig(
        suite=Path(__file__).resolve().parents[2] / "evals" / "suites" / "smoke.toml",
        task="summary",
        limit=3,
        url="http://svc.invalid",
        concurrency=5,
        judge_model="judge-from-env",
        judge_url="http://judge.invalid/v1",
        summary_length="long",
        out=tmp_path,
        replay=True,
        thresholds=Path("t.toml"),
        prices=Path("p.toml"),
    )


@pytest.mark.parametrize("sources", [{}, {"datasets": (Path("a"),), "suite": Path("s.toml")}])
def test_run_config_needs_datasets_or_a_suite(sources):
    with pytest.raises(ValueError, match="datasets or a suite"):
        RunConfig(**sources)


def test_run_exits_1_when_a_threshold_fails(scripted_env, dataset, tmp_path):
    scripted_env.default = json_reply({"answer": "Norse raiders", "sentence": 2})
    code = main(
        [
            "run",
            "--dataset",
            str(dataset),
            "--task",
            "qa",
            "--out",
            str(tmp_path / "out"),
            "--thresholds",
            str(_thresholds(tmp_path, 0.9)),
        ]
    )
    assert code == 1
    assert "FAIL" in (tmp_path / "out" / "report.md").read_text()


def test_rerun_replays_recordings_and_resumes_without_model_calls(scripted_env, dataset, tmp_path):
    scripted_env.default = json_reply({"answer": "France", "sentence": 1})
    args = [
        "run",
        "--dataset",
        str(dataset),
        "--task",
        "qa",
        "--thresholds",
        str(_thresholds(tmp_path, 0.0)),
    ]
    assert main([*args, "--out", str(tmp_path / "first")]) == 0
    calls = scripted_env.calls
    # Same out dir: resumed from the checkpoint, nothing is asked again.
    assert main([*args, "--out", str(tmp_path / "first")]) == 0
    # New out dir with --replay: answered from the recordings, offline.
    assert main([*args, "--out", str(tmp_path / "replayed"), "--replay"]) == 0
    assert scripted_env.calls == calls
    first = json.loads((tmp_path / "first" / "report.json").read_text())["aggregates"]
    replayed = json.loads((tmp_path / "replayed" / "report.json").read_text())["aggregates"]
    assert first["qa"]["model"]["f1"] == replayed["qa"]["model"]["f1"]


SUMMARY_CASE = {
    "id": "tiny-summary",
    "title": "Normans",
    "source": "test",
    "text": ARTICLE,
    "reference_summary": "Normandy is in France. Rollo led the Normans.",
}


def test_judge_scores_faithfulness_of_each_summary_sentence(scripted_env, tmp_path, monkeypatch):
    # Abstractive: the judge sees the model's own two sentences and their quotes.
    monkeypatch.setenv("SUMMARY_MODE", "abstractive")
    dataset = tmp_path / "summary.jsonl"
    dataset.write_text(json.dumps(SUMMARY_CASE) + "\n", "utf-8")
    scripted_env.enqueue(
        json_reply(
            {
                "sentences": [
                    {"text": "Normandy is a region in France.", "sources": [1]},
                    {"text": "Rollo was the first leader of the Normans.", "sources": [3]},
                ]
            }
        ),
        # The same scripted server plays the judge: one sentence supported, one not.
        json_reply({"supported": True}),
        json_reply({"supported": False}),
    )
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--dataset",
            str(dataset),
            "--task",
            "summary",
            "--out",
            str(out),
            "--thresholds",
            str(_thresholds(tmp_path, 0.0)),
            "--judge-model",
            "judge",
            "--judge-url",
            scripted_env.url,
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["aggregates"]["summary"]["model"]["faithfulness"] == 0.5
    judge_prompts = [h["messages"][-1]["content"] for h in scripted_env.history[1:]]
    assert all(p.startswith("Evidence:\n- ") and "Claim: " in p for p in judge_prompts)
    assert report["config"]["judge"].startswith("judge / judge_faithfulness@1")


def test_without_a_judge_faithfulness_is_not_measured(scripted_env, tmp_path):
    dataset = tmp_path / "summary.jsonl"
    dataset.write_text(json.dumps(SUMMARY_CASE) + "\n", "utf-8")
    scripted_env.default = json_reply(
        {"sentences": [{"text": "Normandy is a region in France.", "sources": [1]}]}
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--dataset",
                str(dataset),
                "--task",
                "summary",
                "--out",
                str(out),
                "--thresholds",
                str(_thresholds(tmp_path, 0.0)),
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["aggregates"]["summary"]["model"]["faithfulness"] is None
    assert scripted_env.calls == 1
