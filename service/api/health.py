"""Liveness and readiness probes, and the metrics a Prometheus server scrapes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from litestar import HttpMethod, Response, get, route
from litestar.di import NamedDependency

from service.api.errors import problem
from service.api.openapi import per_method
from service.observability.metrics import CONTENT_TYPE, exposition, set_breaker_state
from service.pipeline.pipeline import Pipeline
from service.settings import Settings
from service.store.base import Documents

T = TypeVar("T")
# How long /readyz waits for the document store and for Redis (both at once, beside the
# model probe): a database that hangs makes the replica unready within this instead of
# holding the load balancer's health check.
CHECK_TIMEOUT_S = 1.0
# Checks given up on, kept referenced until their clients' own timeouts end them.
_abandoned: set[asyncio.Task[Any]] = set()


async def within(check: Awaitable[T], timeout_s: float = CHECK_TIMEOUT_S) -> T | None:
    """The check's answer, or None when it takes longer than timeout_s. Not
    asyncio.wait_for: that waits for the cancelled check to finish, and a check stuck on
    a hung server may be slow to (a pooled connection is closed on the way out)."""
    task = asyncio.ensure_future(check)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        return task.result()
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)
    return None


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a late failure of a check given up on is no news


async def _no_check() -> None:
    return None


@route(
    "/healthz",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    tags=["health"],
    operation_id=per_method("healthz"),
    summary="The process is up",
    security=[{}],
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@route(
    "/readyz",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    tags=["health"],
    operation_id=per_method("readyz"),
    summary="This replica can serve: the model path works, the store answers, the circuit "
    "is not open, Redis answers (or this replica may go on without it)",
    description="A model that is busy generating stays ready: with a model call in flight, "
    "or one that succeeded in the last 30 s with no failure since, a ping that waits behind "
    "a generation counts as busy, not down; a refused connection (or a dead embedded model "
    "process) makes it 503 at once. The store (SQLite, or PostgreSQL with DATABASE_URL) "
    "must answer a `SELECT 1` within 1 s. With REDIS_URL, `checks.redis` says whether Redis "
    "answered a `PING` within 1 s (`shared`); when it did not, the replica stays ready under "
    "REDIS_UNAVAILABLE=local (it runs per process meanwhile) and is not ready under "
    "`refuse`. The body names each check and which one failed; it never shows a URL's "
    "password.",
    security=[{}],
)
async def readyz(
    pipeline: NamedDependency[Pipeline], store: NamedDependency[Documents]
) -> Response[dict[str, Any]]:
    shared = pipeline.shared
    # At once: the slowest check, not their sum, is what a probe waits for.
    model, stored, redis = await asyncio.gather(
        pipeline.readiness(),
        within(store.check()),
        within(shared.check()) if shared is not None else _no_check(),
    )
    store_ok, store_detail = stored or (
        False,
        f"the store gave no answer within {CHECK_TIMEOUT_S:g} s",
    )
    circuit = model.circuit or "none"
    checks: dict[str, dict[str, Any]] = {
        "model": {"ok": model.ready, "detail": model.detail},
        "store": {"ok": store_ok, "detail": store_detail},
        "circuit": {"ok": circuit != "open", "state": circuit},
    }
    details = {"model": model.detail, "store": store_detail, "circuit": "the circuit is open"}
    if shared is not None:
        redis_ok, sharing, redis_detail = redis or shared.unanswered(
            f"no answer within {CHECK_TIMEOUT_S:g} s"
        )
        checks["redis"] = {"ok": redis_ok, "shared": sharing, "detail": redis_detail}
        details["redis"] = redis_detail
    failed = [name for name, check in checks.items() if not check["ok"]]
    if not failed:
        return Response({"status": "ready", "model": pipeline.model, "checks": checks})
    if "model" in failed or "circuit" in failed:
        problem_type, title = "model-unavailable", "Model unavailable"
    elif "store" in failed:
        problem_type, title = "store-unavailable", "Store unavailable"
    else:
        problem_type, title = "shared-state-unavailable", "Shared state unavailable"
    return problem(
        503,
        problem_type,
        title,
        "not ready: " + "; ".join(details[name] for name in failed),
        failed=failed,
        checks=checks,
    )


@get(
    "/metrics",
    tags=["health"],
    operation_id="get_metrics",
    summary="Metrics in the Prometheus text format",
    description="Requests, model calls, tokens, caches, 429s, degraded results, the circuit "
    "breaker, stored documents and embedded model restarts. With PROMETHEUS_MULTIPROC_DIR, "
    "the sum over every worker process.",
    security=[{}],
    media_type=CONTENT_TYPE,
)
async def metrics(
    pipeline: NamedDependency[Pipeline], settings: NamedDependency[Settings]
) -> Response[bytes]:
    # The breaker turns half-open by time passing, with no event to record it: read it now.
    state = pipeline.circuit_state()
    if state is not None:
        set_breaker_state(state)
    return Response(exposition(settings.prometheus_multiproc_dir), media_type=CONTENT_TYPE)
