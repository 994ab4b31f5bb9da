"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency

from service.api.errors import problem
from service.pipeline.pipeline import Pipeline


@get("/healthz", tags=["health"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["health"], summary="The model endpoint answers")
async def readyz(pipeline: NamedDependency[Pipeline]) -> Response[dict[str, Any]]:
    if await pipeline.llm.ping():
        return Response({"status": "ready", "model": pipeline.llm.model})
    return problem(
        503, "model-unavailable", "Model unavailable", "the model endpoint does not answer"
    )
