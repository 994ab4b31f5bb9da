"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod, Response, route
from litestar.di import NamedDependency

from service.api.errors import problem
from service.api.openapi import per_method
from service.pipeline.pipeline import Pipeline


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
    summary="This replica can serve: the model path works",
    security=[{}],
)
async def readyz(pipeline: NamedDependency[Pipeline]) -> Response[dict[str, Any]]:
    if await pipeline.ready():
        return Response({"status": "ready", "model": pipeline.model})
    return problem(
        503, "model-unavailable", "Model unavailable", "the model endpoint does not answer"
    )
