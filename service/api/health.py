"""Liveness and readiness probes, and the metrics a Prometheus server scrapes."""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod, Response, get, route
from litestar.di import NamedDependency

from service.api.errors import problem
from service.api.openapi import per_method
from service.observability.metrics import CONTENT_TYPE, exposition, set_breaker_state
from service.pipeline.pipeline import Pipeline
from service.settings import Settings
from service.store.base import Documents


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
    summary="This replica can serve: the model path works, the store is open, the circuit "
    "is not open",
    description="A model that is busy generating stays ready: with a model call in flight, "
    "or one that succeeded in the last 30 s with no failure since, a ping that waits behind "
    "a generation counts as busy, not down; a refused connection (or a dead embedded model "
    "process) makes it 503 at once. The body names each check and which one failed.",
    security=[{}],
)
async def readyz(
    pipeline: NamedDependency[Pipeline], store: NamedDependency[Documents]
) -> Response[dict[str, Any]]:
    model = await pipeline.readiness()
    store_ok, store_detail = await store.check()
    circuit = model.circuit or "none"
    checks = {
        "model": {"ok": model.ready, "detail": model.detail},
        "store": {"ok": store_ok, "detail": store_detail},
        "circuit": {"ok": circuit != "open", "state": circuit},
    }
    if model.ready and store_ok and circuit != "open":
        return Response({"status": "ready", "model": pipeline.model, "checks": checks})
    failed = [name for name, check in checks.items() if not check["ok"]]
    if not model.ready or circuit == "open":
        problem_type, title = "model-unavailable", "Model unavailable"
    else:
        problem_type, title = "store-unavailable", "Store unavailable"
    details = {"model": model.detail, "store": store_detail, "circuit": "the circuit is open"}
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
