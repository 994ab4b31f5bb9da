"""`python -m bench --quick`: the result document has every headline key with a sane type.

No timing is asserted anywhere: on a shared 2-core machine timings are noise; the benchmark
reports them, these tests only check that it measures and writes what it promises.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = (
    "service_overhead_ratio",
    "ingest_ratio_to_tiktoken",
    "repeat_upstream_calls",
    "singleflight_upstream_calls",
    "long_doc_token_share",
)


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "latest.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Benchmarks" in done.stdout  # the table was printed
    return json.loads(out.read_text())


def test_required_keys_are_at_the_top_level(quick_results: dict) -> None:
    for key in REQUIRED:
        assert key in quick_results, key
    # Quick mode starts no servers: the overhead figure is absent, and says why.
    assert quick_results["service_overhead_ratio"] is None
    assert "skipped" in quick_results["sections"]["overhead"]
    assert "skipped" in quick_results["sections"]["embedded"]


def test_measured_values_have_sane_types_and_ranges(quick_results: dict) -> None:
    ratio = quick_results["ingest_ratio_to_tiktoken"]
    assert isinstance(ratio, float) and ratio > 0
    assert quick_results["repeat_upstream_calls"] == 1
    assert quick_results["repeat_extra_upstream_calls"] == 0
    assert quick_results["singleflight_upstream_calls"] == 1
    assert quick_results["summary_repeat_upstream_calls"] == 1
    assert quick_results["summary_singleflight_upstream_calls"] == 1
    share = quick_results["long_doc_token_share"]
    assert isinstance(share, float) and 0 < share < 1
    assert quick_results["evidence_recall_whole_article"] == 1.0
    for key in ("evidence_recall_default", "evidence_recall_chunks_only"):
        assert 0 <= quick_results[key] <= 1


def test_bars_machine_and_sections_are_recorded(quick_results: dict) -> None:
    bars = quick_results["bars"]
    assert bars["ingest_ratio_to_tiktoken"]["bar"] == "<= 2.0"
    assert bars["service_overhead_ratio"]["ok"] is None  # not measured, so not judged
    assert bars["singleflight_upstream_calls"]["ok"] is True
    machine = quick_results["machine"]
    for key in ("cpu_model", "cores", "python", "date"):
        assert machine[key], key
    scaling = quick_results["sections"]["scaling"]
    assert [row["size"] for row in scaling["ingestion"]] == ["10KB", "100KB"]
    summary = scaling["summaries"][0]
    assert summary["status"] == 200 and summary["model_calls"] > 2  # map-reduce happened
