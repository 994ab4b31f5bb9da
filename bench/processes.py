"""Child processes of the overhead benchmark: the fake upstream, the service, the minimal app."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPO_ROOT, free_port


@dataclass(frozen=True)
class Server:
    """A server child process: where it listens and its pid (for a profiler to attach)."""

    base: str
    pid: int


def _env(extra: dict[str, str]) -> dict[str, str]:
    # A developer's own LLM_* settings must not leak into a benchmark's service.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env


def stop(process: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
    """SIGTERM this one child (by its pid), SIGKILL it after a grace period."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace_s)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads included (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")" closing the command name, utime and stime are the 12th and 13th fields.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def upstream_process(reply: dict[str, Any], delay_s: float = 0.0) -> Iterator[Server]:
    """A ScriptedUpstream in its own process answering every call with reply."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.upstream_process",
            json.dumps(reply),
            "--delay",
            str(delay_s),
        ],
        cwd=REPO_ROOT,
        env=_env({}),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"scripted upstream did not start (printed {line!r})")
        yield Server(f"http://127.0.0.1:{int(line.split()[1])}/v1", process.pid)
    finally:
        stop(process)


def wait_ready(url: str, process: subprocess.Popen[Any], within_s: float = 60.0) -> None:
    """Poll url until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} while starting")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {within_s:.0f}s")


@contextlib.contextmanager
def service_process(
    upstream_url: str,
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    bare: bool = False,
) -> Iterator[Server]:
    """The real service, started exactly as users start it (`service.cli serve`); `bare`:
    without its request observer and metrics (bench.bare_service)."""
    port = free_port()
    log = (workdir / ("bare.log" if bare else "service.log")).open("wb")
    command = ["bench.bare_service"] if bare else ["service.cli", "serve"]
    process = subprocess.Popen(
        [sys.executable, "-m", *command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env=_env(
            {
                "LLM_BASE_URL": upstream_url,
                "LLM_MODEL": "scripted",
                "DATABASE_PATH": str(workdir / ("bare.sqlite3" if bare else "documents.sqlite3")),
                **({"METRICS": "0"} if bare else {}),
                **(extra_env or {}),
            }
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/readyz", process)
        yield Server(base, process.pid)
    finally:
        stop(process)
        log.close()


@contextlib.contextmanager
def minimal_process(upstream_url: str, context: str, workdir: Path) -> Iterator[Server]:
    """bench.minimal_app under uvicorn, configured like the service's `serve` command."""
    port = free_port()
    log = (workdir / "minimal.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.minimal_app", "--port", str(port)],
        cwd=REPO_ROOT,
        env=_env({"BENCH_UPSTREAM_URL": upstream_url, "BENCH_ARTICLE_CONTEXT": context}),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/healthz", process)
        yield Server(base, process.pid)
    finally:
        stop(process)
        log.close()
