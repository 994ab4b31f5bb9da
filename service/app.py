"""create_app(): builds the Litestar application; nothing happens at import time."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import Guard

from service.api.answers import AnswerController
from service.api.body_budget import BodyBudgetMiddleware, ByteBudget
from service.api.dependencies import provide_pipeline, provide_settings, provide_store
from service.api.documents import DocumentController
from service.api.errors import EXCEPTION_HANDLERS, JSONRequest
from service.api.headers import allow_every_method, cors_refusal_as_problem, security_headers
from service.api.health import healthz, metrics, readyz
from service.api.observe import RequestObserver
from service.api.openapi import describe_api
from service.api.ratelimit import RateLimiter
from service.api.summaries import SummaryController
from service.errors import Unauthorized, UnsupportedMediaType
from service.llm.base import LLM, LLMStartupError
from service.llm.factory import open_llm
from service.observability import tracing
from service.observability.metrics import set_breaker_state
from service.pipeline.pipeline import Pipeline
from service.settings import Settings
from service.shared.redis_state import SharedState, SharedStateStartupError
from service.store.base import Documents, StoreStartupError
from service.store.documents import DocumentStore
from service.store.postgres import PostgresDocumentStore
from service.web import WEB_ROUTES, OfflineSwaggerPlugin

_BODY_METHODS = {"POST", "PUT", "PATCH"}
log = logging.getLogger("service.app")


async def require_json(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Request bodies must be JSON (415 otherwise).

    Async on purpose: Litestar runs sync guards in a worker thread on every request.
    """
    if connection.scope.get("method") not in _BODY_METHODS:
        return
    content_type = connection.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as application/json (got {content_type or 'no Content-Type'})"
        )


def api_key_guard(keys: frozenset[str]) -> Guard:
    """A guard that lets /v1/ requests through only with one of the keys as a bearer token."""
    encoded = [key.encode() for key in keys]

    async def require_api_key(
        connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
    ) -> None:
        if not connection.scope["path"].startswith("/v1/"):
            return  # health probes, the page and the schema stay open
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        given = token.strip().encode()
        # Compare against every key, constant time each, so timing reveals nothing.
        matches = [hmac.compare_digest(given, key) for key in encoded]
        if scheme.lower() != "bearer" or not any(matches):
            raise Unauthorized(
                "send a valid API key as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_api_key


def open_store(settings: Settings) -> Documents:
    """PostgreSQL when DATABASE_URL is set (replicas share it), else the SQLite file."""
    cache_bytes = (settings.memory_cache_mb << 20) // 2
    if settings.database_url:
        return PostgresDocumentStore(
            settings.database_url, settings.database_pool_size, cache_bytes=cache_bytes
        )
    return DocumentStore(settings.database_path, cache_bytes=cache_bytes)


def shared_state(settings: Settings) -> SharedState | None:
    """The Redis-backed state replicas share, when REDIS_URL is set."""
    if not settings.redis_url:
        return None
    return SharedState(
        settings.redis_url,
        on_failure=settings.redis_unavailable,
        pool_size=settings.redis_pool_size,
        lease_s=settings.single_flight_lease_s,
        result_ttl_s=settings.shared_result_ttl_s,
    )


def create_app(settings: Settings | None = None, llm: LLM | None = None) -> Litestar:
    """The application; `llm` overrides the model the settings describe (tests)."""
    settings = settings or Settings.from_env()
    guards: list[Guard] = [require_json]
    if settings.api_keys:
        guards.append(api_key_guard(settings.api_keys))
    shared = shared_state(settings)
    limiter = None
    if settings.rate_limit:
        # After the key check, so only valid keys are counted.
        limiter = RateLimiter(settings.rate_limit, per_key=bool(settings.api_keys), shared=shared)
        guards.append(limiter.guard)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            store = open_store(settings)
            try:
                await store.open()
                stack.push_async_callback(store.close)
                if shared is not None:
                    await shared.open()
                    stack.push_async_callback(shared.close)
            except (StoreStartupError, SharedStateStartupError) as exc:
                # One clear line (variable, host) before the server's own traceback.
                log.error("cannot start: %s", exc)
                raise
            try:
                model = (
                    llm if llm is not None else await stack.enter_async_context(open_llm(settings))
                )
            except LLMStartupError as exc:
                # One clear line before the server's own traceback of the failed start-up.
                log.error("the model could not start: %s", exc)
                raise
            if settings.otel_exporter_otlp_endpoint:
                tracing.configure_tracing(
                    settings.otel_service_name, otlp_endpoint=settings.otel_exporter_otlp_endpoint
                )
                stack.callback(tracing.shutdown_tracing)
            app.state.settings = settings
            app.state.store = store
            app.state.pipeline = pipeline = Pipeline(model, settings, shared)
            stack.push_async_callback(pipeline.aclose)
            set_breaker_state(pipeline.circuit_state() or "closed")
            # Deletes made through other replicas drop this replica's cached results.
            store.on_delete(pipeline.forget)
            yield

    app = Litestar(
        route_handlers=[
            DocumentController,
            SummaryController,
            AnswerController,
            healthz,
            readyz,
            *([metrics] if settings.metrics else []),
            *WEB_ROUTES,
        ],
        dependencies={
            "store": Provide(provide_store, sync_to_thread=False),
            "pipeline": Provide(provide_pipeline, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        guards=guards,
        before_send=[
            security_headers,
            cors_refusal_as_problem,
            allow_every_method,
            *([limiter.add_headers] if limiter else []),
        ],
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins), allow_headers=["*"])
        if settings.cors_origins
        else None,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_class=JSONRequest,
        middleware=[
            BodyBudgetMiddleware(
                ByteBudget(settings.ingest_memory_mb << 20),
                settings.max_body_bytes,
                # Unread while it waits, the body also runs against the connection's
                # read deadline (REQUEST_READ_TIMEOUT): give up first, so the client gets
                # the 503 problem rather than a closed connection.
                wait_s=settings.request_read_timeout_s * 0.8,
            )
        ],
        lifespan=[lifespan],
        # Logging is configured in one place (service/observability/logs.py) by whoever
        # runs the app; Litestar would otherwise replace the root logger's handlers.
        logging_config=None,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Grounded summaries and answers",
            version="1.0.0",
            description="Summaries and answers whose every claim cites exact character spans "
            "of the article (Unicode code points, 0-based, end-exclusive).",
            render_plugins=[OfflineSwaggerPlugin(), JsonRenderPlugin()],
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="A key from API_KEYS / API_KEYS_FILE, sent as "
                        "`Authorization: Bearer <key>`.",
                    )
                }
            )
            if settings.api_keys
            else Components(),
            # With keys, every /v1/ operation needs one (health probes opt out).
            security=[{"apiKey": []}] if settings.api_keys else None,
        ),
    )
    describe_api(app.openapi_schema, settings)
    # Around everything Litestar does (routing included), so that 404s and errors get an
    # id, an access line and a count too.
    app.asgi_handler = RequestObserver(app.asgi_handler, metrics=settings.metrics)
    return app
