"""The `service` command line: output, --json, exit codes (model = scripted upstream)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.citations import assert_valid_citations
from tests.fakes.upstream import json_reply


def run_cli(
    upstream, *args: str, stdin: str | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_"))}
    env.update(
        {
            "LLM_BASE_URL": upstream.url,
            "LLM_MODEL": "scripted",
            "LLM_MAX_RETRIES": "0",
            "LLM_STRUCTURED_OUTPUT": "json_schema",
            "SUMMARY_MODE": "abstractive",
            # Model failures must surface as exit code 4, not as degraded answers.
            "DEGRADED_MODE": "0",
            # The CLI's contract, not answer quality: every grounded answer is printed
            # (withholding is tested in tests/api/test_answerability_threshold.py).
            "ANSWERABILITY_THRESHOLD": "0",
            **(extra_env or {}),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_ask_prints_the_answer_with_its_cited_passage(upstream, shared_data):
    upstream.enqueue(json_reply({"answer": "Dmitry Peskov", "sentence": 17}))
    result = run_cli(
        upstream, "ask", str(shared_data / "sample_article.txt"), "Who is the Kremlin spokesperson?"
    )
    assert result.returncode == 0, result.stderr
    assert "Dmitry Peskov" in result.stdout
    assert "Kremlin spokesperson Dmitry Peskov, meanwhile" in result.stdout.replace("\n", " ")


def test_ask_json_is_the_api_body_and_reads_stdin(upstream, sample_article):
    upstream.enqueue(json_reply({"answer": "Dmitry Peskov", "sentence": 17}))
    result = run_cli(
        upstream, "ask", "-", "Who is the Kremlin spokesperson?", "--json", stdin=sample_article
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["answer"] == "Dmitry Peskov"
    assert assert_valid_citations(sample_article, body) == 1


def test_ask_exits_1_when_the_article_does_not_say(upstream, shared_data):
    upstream.enqueue(json_reply({"answer": "", "sentence": 0}))
    result = run_cli(
        upstream, "ask", str(shared_data / "sample_article.txt"), "What is the GDP of Peru?"
    )
    assert result.returncode == 1
    assert "does not say" in result.stdout


def test_summarize_json_cites_every_sentence(upstream, sample_article):
    upstream.enqueue(
        json_reply(
            {
                "sentences": [
                    {
                        "text": "Poland clarified that it would not send any troops to Ukraine.",
                        "sources": [1],
                    }
                ]
            }
        )
    )
    result = run_cli(
        upstream, "summarize", "-", "--length", "short", "--json", stdin=sample_article
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["sentences"] and assert_valid_citations(sample_article, body) >= 1


def test_bad_input_and_model_failure_exit_codes(upstream, tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n", "utf-8")
    assert run_cli(upstream, "ask", str(empty), "Who?").returncode == 3
    assert run_cli(upstream, "ask", str(tmp_path / "missing.txt"), "Who?").returncode == 3
    article = tmp_path / "a.txt"
    article.write_text("Alice met Bob in Paris.", "utf-8")
    # The scripted upstream has nothing queued: it answers HTTP 500.
    failed = run_cli(upstream, "ask", str(article), "Where did Alice meet Bob?")
    assert failed.returncode == 4
    assert "HTTP 500" in failed.stderr
    assert run_cli(upstream, "summarize", str(article), "--length", "huge").returncode == 2


def test_help_explains_options_and_exit_codes(upstream):
    result = run_cli(upstream, "ask", "--help")
    assert result.returncode == 0
    assert "exit codes" in result.stdout and "--json" in result.stdout


def test_summarize_shows_a_progress_bar_over_the_parts_of_a_long_article(upstream, shared_data):
    # Issue #13: the map calls of a long article are counted on a bar (rendered as on a
    # terminal: rich draws live displays only on interactive consoles; the bar is drawn
    # only once progress has a total).
    line = (shared_data / "squad2_dev_articles.jsonl").read_text("utf-8").splitlines()[0]
    upstream.default = json_reply(
        {"sentences": [{"text": "The Normans gave their name to Normandy.", "sources": [1]}]}
    )
    result = run_cli(
        upstream,
        "summarize",
        "-",
        "--length",
        "short",
        stdin=json.loads(line)["text"],
        extra_env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stderr
    parts = upstream.calls - 1  # all but the reduce call
    # The live display refreshes on a timer, so which intermediate counts it drew is
    # luck; its last frame (drawn as it closes) always shows the bar full.
    assert parts >= 2
    assert f"{parts}/{parts}" in result.stderr and "━" in result.stderr
    assert "Normandy" in result.stdout
