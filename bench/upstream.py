"""The scripted upstream the benchmarks use, and a check that it answers without a Nagle stall.

A socket bound with proto 0 gets no TCP_NODELAY from asyncio, and every reply then waits
~40 ms for the client's delayed ACK, which would swamp what these benchmarks measure.
"""

from __future__ import annotations

import time

from tests.fakes.upstream import ScriptedUpstream


def nagle_stall_ms(upstream: ScriptedUpstream, calls: int = 5) -> float:
    """Median ms of GET /models on upstream (~40 ms means the fake still waits on Nagle)."""
    import statistics

    import httpx

    with httpx.Client(timeout=5.0) as client:
        client.get(f"{upstream.url}/models")
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            client.get(f"{upstream.url}/models")
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)
