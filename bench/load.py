"""HTTP load: wrk with a Lua script that POSTs JSON, or a Python httpx loop when wrk is missing.

Questions can vary per request (a counter in the text) so that the service's answer cache never
serves them: each request then takes the real path, model call included.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

# Lua for wrk. setup() numbers the threads, init() reads the run tag and the mode passed after
# `--`, request() builds the body, done() prints one machine-readable line.
_LUA = r"""
local threads = {}
setup = function(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

local prefix = [==[%(prefix)s]==]
local suffix = [==[%(suffix)s]==]
local counter = 0
local tag = "run"
local vary = true
local headers = {["Content-Type"] = "application/json"}

init = function(args)
  tag = args[1] or "run"
  vary = args[2] ~= "same"
end

request = function()
  counter = counter + 1
  local body
  if vary then
    body = prefix .. " #" .. tag .. "-" .. tostring(thread_id or 0) .. "-" .. counter .. suffix
  else
    body = prefix .. suffix
  end
  return wrk.format("POST", nil, headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\"requests\": %%d, \"duration_us\": %%d, \"socket_errors\": %%d, " ..
    "\"non2xx\": %%d, \"p50_us\": %%d, \"p90_us\": %%d, \"p99_us\": %%d, \"mean_us\": %%.1f}\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


@dataclass(frozen=True)
class LoadResult:
    tool: str
    concurrency: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int  # socket errors, timeouts and non-2xx answers

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def lua_script(question: str) -> str:
    """The wrk script that POSTs {"question": question [+ " #tag-thread-counter"]}."""
    body = json.dumps({"question": question})
    cut = body.rindex('"')  # the closing quote of the question string
    if "]==]" in body:
        raise ValueError("question cannot contain ]==]")
    return _LUA % {"prefix": body[:cut], "suffix": body[cut:]}


def parse_wrk(output: str, concurrency: int) -> LoadResult:
    """LoadResult from the BENCH_JSON line the script's done() prints."""
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            duration = data["duration_us"] / 1e6
            return LoadResult(
                tool="wrk",
                concurrency=concurrency,
                duration_s=duration,
                requests=data["requests"],
                rps=data["requests"] / duration if duration else 0.0,
                p50_ms=data["p50_us"] / 1000,
                p90_ms=data["p90_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                errors=data["socket_errors"] + data["non2xx"],
            )
    raise RuntimeError(f"wrk printed no result line:\n{output[-2000:]}")


def run_wrk(
    url: str, question: str, concurrency: int, duration_s: float, tag: str, vary: bool = True
) -> LoadResult:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(lua_script(question))
        command = [
            "wrk",
            "-t1",  # one load thread: on 2 cores the servers need the other core
            f"-c{concurrency}",
            f"-d{max(1, round(duration_s))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
            "--",
            tag,
            "vary" if vary else "same",
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    return parse_wrk(done.stdout, concurrency)


async def _httpx_load(
    url: str, question: str, concurrency: int, duration_s: float, tag: str, vary: bool
) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    counter = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + duration_s

        async def worker() -> None:
            nonlocal errors, counter
            while time.perf_counter() < deadline:
                counter += 1
                text = f"{question} #{tag}-{counter}" if vary else question
                sent = time.perf_counter()
                try:
                    response = await client.post(url, json={"question": text})
                    if response.status_code >= 300:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - sent)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return LoadResult(
        tool="httpx",
        concurrency=concurrency,
        duration_s=elapsed,
        requests=len(latencies),
        rps=len(latencies) / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p90_ms=cuts[89] * 1000,
        p99_ms=cuts[98] * 1000,
        errors=errors,
    )


def run_load(
    url: str,
    question: str,
    concurrency: int,
    duration_s: float,
    tag: str,
    vary: bool = True,
    tool: str = "wrk",
) -> LoadResult:
    """POST questions to url for duration_s at a fixed concurrency (closed loop)."""
    if tool == "wrk":
        return run_wrk(url, question, concurrency, duration_s, tag, vary)
    return asyncio.run(_httpx_load(url, question, concurrency, duration_s, tag, vary))
