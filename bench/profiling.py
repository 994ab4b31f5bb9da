"""Sampling profiles of a running server process with py-spy (optional: absent, it is skipped)."""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    """The py-spy executable (the venv's first, then PATH)."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


RATE_HZ = 250
# Frames every sample of a thread passes through (process start-up, the event loop, thread
# bootstrap): ranking them says nothing about where a request's time goes.
_ROOT_FRAMES = (
    "_run_module_as_main", "_run_code", "<module>", "main (", "_serve (", "run (uvicorn",
    "Server.run (uvicorn", "asyncio_run", "Runner.run", "BaseEventLoop.", "Handle._run",
    "Thread._bootstrap", "Thread.run (threading",
)  # fmt: skip


def start_recording(pid: int, duration_s: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample pid for duration_s into out (collapsed stacks); None when py-spy is missing.

    --gil keeps only samples of the thread holding the GIL: Python CPU time, without the
    threads that merely wait (which --nonblocking sampling otherwise counts as busy)."""
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(duration_s))),
         "--rate", str(RATE_HZ), "--format", "raw", "--gil", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def _short(frame: str) -> str:
    # "handle (litestar/routes/http.py:123)" -> "handle (litestar/routes/http.py)": lines split
    # one function into many rows.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


def summarize(raw: Path, requests: int, top: int = 15) -> dict[str, Any]:
    """Top frames by self and inclusive GIL-held time per request (ms), from py-spy's
    collapsed output; per request, so that two servers' profiles can be compared."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
        leaf = frames[-1]
        where = leaf.partition(" (")[2].rstrip(")")
        by_package[where.split("/", 1)[0] if "/" in where else where or "?"] += count

    per_request = 1000 / RATE_HZ / max(requests, 1)  # ms of one sample, spread per request

    def rows(counter: collections.Counter[str], skip_root: bool = False) -> list[list[Any]]:
        chosen = [
            (frame, n)
            for frame, n in counter.most_common()
            if not skip_root or not frame.startswith(_ROOT_FRAMES)
        ]
        return [[frame, round(n * per_request, 4)] for frame, n in chosen[:top]]

    return {
        "samples": total,
        "requests": requests,
        "gil_ms_per_request": round(total * per_request, 4),
        "top_self_ms": rows(own),
        "top_inclusive_ms": rows(inclusive, skip_root=True),
        "self_by_package_ms": rows(by_package),
    }
