"""Pieces of the benchmark harness: the wrk script, result parsing, recall and profiles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import overhead, profiling, report
from bench.corpus import text_of_size, unique_paragraphs
from bench.inprocess import scripted_upstream
from bench.load import LoadResult, lua_script, parse_wrk, run_load, wrk_available
from bench.long_docs import evidence_shown, shown_sentences
from tests.fakes.upstream import json_reply


def test_lua_script_posts_the_question_as_json() -> None:
    script = lua_script('Who said "no"?')
    # The body is split around the end of the question, where the counter goes.
    assert '[==[{"question": "Who said \\"no\\"?]==]' in script
    assert '[==["}]==]' in script
    assert "%d" in script and "%%" not in script  # Python's % formatting left Lua's intact


def test_parse_wrk_reads_the_done_line() -> None:
    output = "Running 1s test\nBENCH_JSON " + json.dumps(
        {
            "requests": 500,
            "duration_us": 2_000_000,
            "socket_errors": 1,
            "non2xx": 2,
            "p50_us": 1500,
            "p90_us": 3000,
            "p99_us": 9000,
            "mean_us": 1800.5,
        }
    )
    result = parse_wrk(output, concurrency=32)
    assert result.rps == 250 and result.p50_ms == 1.5 and result.errors == 3
    with pytest.raises(RuntimeError):
        parse_wrk("no result", 1)


@pytest.mark.parametrize(
    "tool",
    ["httpx", pytest.param("wrk", marks=pytest.mark.skipif(not wrk_available(), reason="no wrk"))],
)
def test_load_sends_a_different_question_every_request(tool: str) -> None:
    with scripted_upstream() as upstream:
        upstream.default = json_reply({"answer": "", "sentence": 0})
        result = run_load(
            f"{upstream.url}/chat/completions",
            "Who?",
            2,
            0.3 if tool == "httpx" else 1,
            "t",
            True,
            tool,
        )
        questions = [r["question"] for r in list(upstream.history)]
    assert result.requests > 0 and result.errors == 0
    assert len(set(questions)) == len(questions)
    assert all(q.startswith("Who? #t-") for q in questions)


def test_corpus_paragraphs_are_unique_and_sizes_close() -> None:
    paragraphs = unique_paragraphs()
    assert len(set(paragraphs)) == len(paragraphs)
    text = text_of_size(300_000)  # needs more than one copy of the corpus
    parts = text.split("\n\n")
    assert len(set(parts)) == len(parts)
    assert 300_000 <= len(text.encode()) < 310_000


def test_evidence_recall_needs_every_sentence_the_answer_touches() -> None:
    spans = [(0, 10), (11, 20), (21, 30)]
    question = {"answers": [{"text": "x" * 6, "start": 8}]}  # spans sentences 0 and 1
    assert not evidence_shown(question, spans, {0})
    assert evidence_shown(question, spans, {0, 1})
    request = {"messages": [{"role": "user", "content": "Article:\n[2] b\n...\n[7] g\n\nQ"}]}
    assert shown_sentences(request) == {1, 6}


def test_judge_marks_unmeasured_bars_as_unknown() -> None:
    verdicts = report.judge({"ingest_ratio_to_tiktoken": 2.5, "long_doc_token_share": 0.1})
    assert verdicts["ingest_ratio_to_tiktoken"]["ok"] is False
    assert verdicts["long_doc_token_share"]["ok"] is True
    assert verdicts["service_overhead_ratio"]["ok"] is None


def test_profile_summary_counts_time_per_request(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "main (service/cli.py:1);handle (litestar/routes/http.py:5);rank (service/index.py:9) 30\n"
        "main (service/cli.py:1);handle (litestar/routes/http.py:5) 10\n"
    )
    summary = profiling.summarize(raw, requests=10)
    per_sample = 1000 / profiling.RATE_HZ / 10
    assert summary["samples"] == 40
    assert summary["top_self_ms"][0] == ["rank (service/index.py)", round(30 * per_sample, 4)]
    inclusive = dict(summary["top_inclusive_ms"])
    assert "main (service/cli.py)" not in inclusive  # the start-up chain is left out
    assert inclusive["handle (litestar/routes/http.py)"] == round(40 * per_sample, 4)


def test_breakdown_runs_both_apps_in_process() -> None:
    from bench import breakdown

    result = breakdown.run(calls=10)
    # Measured on the real path: every step of the answer path shows up in the profile.
    assert set(result["steps_us"]) == set(breakdown.STEPS)
    assert result["service_app_us_per_request"] > 0
    assert result["minimal_app_us_per_request"] > 0
    assert result["service_cprofile_top"] == []  # only with profile_to


def test_cpu_seconds_reads_this_process() -> None:
    import os

    from bench.processes import cpu_seconds

    assert cpu_seconds(os.getpid()) > 0


def test_the_observability_cost_is_the_service_against_itself_without_it() -> None:
    # Issue #13's bar: what request ids, access lines and metrics add (service - bare),
    # as a share of what the service adds over the minimal endpoint (service - minimal).
    def run(target: str, cpu_ms: float) -> dict:
        return {"target": target, "vary": True, "server_cpu_ms_per_request": cpu_ms}

    runs = [run("service", 3.1), run("bare", 3.0), run("minimal", 1.0), run("service", 3.1)]
    cpu = overhead._cpu([*runs, run("bare", 3.0), run("minimal", 1.0)])
    assert cpu["observability_cpu_ms_per_request"] == pytest.approx(0.1)
    assert cpu["observability_share_of_overhead"] == pytest.approx(0.1 / 2.1, abs=1e-3)

    def load(rps: float, p50: float) -> LoadResult:
        return LoadResult("httpx", 32, 1.0, int(rps), rps, p50, p50, p50, 0)

    by_key = {
        ("service", 32): [load(900, 30), load(950, 30)],
        ("bare", 32): [load(1000, 28), load(990, 28)],
        ("service", 1): [load(200, 4.2)],
        ("bare", 1): [load(210, 4.0)],
    }
    figures = overhead._observability(by_key)
    assert figures["observability_rps_ratio_c32"] == pytest.approx(0.95)
    assert figures["observability_paired_ratios_c32"] == [0.9, pytest.approx(0.96, abs=1e-3)]
    assert figures["observability_added_median_ms_c1"] == pytest.approx(0.2)
    verdict = report.judge({"observability_share_of_service_adds": 0.06})
    assert verdict["observability_share_of_service_adds"]["ok"] is False
