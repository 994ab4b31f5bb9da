"""The API passes schemathesis run as a team integrating through the OpenAPI document
would (issue #16): `schemathesis run <service>/schema/openapi.json --checks all --phases
examples,coverage,fuzzing,stateful`, bounded (examples per operation) and deterministic.

The real app runs under uvicorn on loopback. Once with the scripted model answering every
call, so the model-backed 200s are checked against the schema and every 5xx is the
service's own fault; once with the model down and DEGRADED_MODE on (the issue's set-up),
so the degraded 200s are too, and with API keys required. Every response the runs provoke
must be documented, with its content type and schema; the project's schemathesis.toml
only lets /readyz answer its documented 503.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx

from service.app import create_app
from service.settings import Settings
from tests.api.helpers import served
from tests.fakes.upstream import ScriptedUpstream, json_reply
from tests.service_process import free_port

MAX_EXAMPLES = 50  # per operation and phase: 1,000 requests, ~15 s a run on 2 busy cores
SEED = 16
# The project's schemathesis configuration, as a run from the repository root reads it.
CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"
RUN_SECONDS = 150  # the bound of one run; it takes a tenth of that


def schemathesis(base_url: str, workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The issue's command, with a bound on examples and a fixed seed, run in workdir
    (schemathesis keeps state in its working directory)."""
    command = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(CONFIG),
        "run", f"{base_url}/schema/openapi.json",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--generation-database", "none",  # nothing from an earlier run is replayed
        "--no-color",
        "--request-timeout", "30",
        *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_SECONDS, cwd=workdir)


def assert_clean(run: subprocess.CompletedProcess[str]) -> None:
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-12_000:]
    # All four phases ran (a schema error skips some and can still exit 0 on older versions).
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in report, report[-6_000:]
    # The stateful phase followed the document's links.
    covered = re.search(r"API Links:\s+(\d+) covered", report)
    assert covered and int(covered.group(1)) > 0, report[-6_000:]


def test_schemathesis_finds_nothing_with_the_model_answering(
    settings: Settings, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    # One reply that reads as an answer and as a summary, so every model call succeeds.
    upstream.default = json_reply(
        {
            "answer": "Putin",
            "sentence": 1,
            "sentences": [{"text": "Tucker Carlson interviewed Vladimir Putin.", "sources": [1]}],
        }
    )
    started = time.monotonic()
    with served(create_app(settings)) as url:
        run = schemathesis(url, tmp_path)
    assert_clean(run)
    assert upstream.calls > 0, "no operation reached the model"
    assert time.monotonic() - started < RUN_SECONDS


def test_schemathesis_finds_nothing_with_the_model_down_and_keys_required(
    settings: Settings, tmp_path: Path
) -> None:
    # Nothing listens there: every model call fails at once, and degraded answers follow.
    # /readyz rightly answers 503 then; schemathesis.toml says so (any other 5xx fails).
    # With API keys (and a rate limit too high to reach), the document declares the bearer
    # scheme and 401; schemathesis sends the key, and checks requests without it get 401.
    down = replace(
        settings,
        llm_base_url=f"http://127.0.0.1:{free_port()}/v1",
        degraded_mode=True,
        api_keys=frozenset({"fuzz-key"}),
        rate_limit="100000/minute",
    )
    with served(create_app(down)) as url:
        run = schemathesis(url, tmp_path, "--header", "Authorization: Bearer fuzz-key")
        summary = httpx.post(
            f"{url}/v1/summarize",
            json={"text": "One sentence here. Another one there."},
            headers={"Authorization": "Bearer fuzz-key"},
        )
    assert_clean(run)
    assert summary.json()["degraded"] is True  # the run saw the degraded answers
