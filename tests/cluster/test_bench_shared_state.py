"""`python -m bench --quick --only shared_state` (issue #14): the section runs against
real servers and records its figures; the exactness ones are counts, so they are
asserted; timings are only checked to be numbers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.service_process import PROJECT_ROOT

pytestmark = pytest.mark.cluster


def test_the_shared_state_section_measures_and_counts_exactly(tmp_path):
    out = tmp_path / "latest.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "shared_state", "--out", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    section = results["sections"]["shared_state"]
    assert "skipped" not in section, section
    assert results["cross_replica_singleflight_calls"] == 1
    assert results["cross_replica_rate_limit_admitted"] == 20
    assert section["cache_hit_errors"] == 0
    for key in ("shared_added_ms_p50", "cache_hit_rps_ratio_3_haproxy_to_1"):
        assert isinstance(results[key], float), key
    assert "7 shared state" in done.stdout
