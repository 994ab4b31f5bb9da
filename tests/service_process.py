"""The real service as a subprocess (`python -m service.cli serve`), for the e2e and
browser tests: start it, wait until it is ready, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(log: Path, chars: int = 3000) -> str:
    """The end of the service's log, for failure messages."""
    try:
        return log.read_text("utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def start_service(
    database: Path, port: int, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Serve on 127.0.0.1:port with its output appended to log.

    The model settings of the developer's shell (LLM_*, OPENAI_*) are dropped so
    each test decides: embedded model (the small tier unless it says), or the scripted
    upstream."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_"))}
    # Process tests check the contract, not answer quality (the eval suite does, on the
    # default model): the small tier starts in a second and answers fast.
    # Every grounded answer is returned (the threshold is calibrated for the default model).
    clean.update(
        {
            "DATABASE_PATH": str(database),
            "EMBEDDED_MODEL": "smollm2-135m",
            "ANSWERABILITY_THRESHOLD": "0",
            **env,
        }
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env=clean,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(
    base: str, process: subprocess.Popen[bytes], log: Path, within_s: float = 120
) -> None:
    """Block until /readyz answers 200 (async tests run this in a thread)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"service exited during start-up:\n{tail(log)}")
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"service not ready within {within_s:.0f} s:\n{tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as an orchestrator would; SIGKILL only if it hangs. Returns the exit code."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=10)


@contextmanager
def running_service(
    workdir: Path, env: dict[str, str], ready_within_s: float = 120
) -> Iterator[str]:
    """Start the service, wait for /readyz, yield its base URL; stop it at the end."""
    with running_process(workdir, env, ready_within_s) as (base, _):
        yield base


@contextmanager
def running_process(
    workdir: Path, env: dict[str, str], ready_within_s: float = 120
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like running_service, also yielding the process (for its pid and RSS)."""
    port = free_port()
    log = workdir / "service.log"
    process = start_service(workdir / "documents.sqlite3", port, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process, log, ready_within_s)
        yield base, process
    finally:
        stop(process)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")
