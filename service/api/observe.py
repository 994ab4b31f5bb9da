"""Around every HTTP request: its id (X-Request-ID), the access log line, the request
metrics and, when tracing is on, the request's span.

Pure ASGI wrapped around the whole application (not a Litestar middleware, which runs
only for matched routes), so 404s and errors are counted and carry an id as well.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.observability import tracing
from service.observability.context import accepted_or_new, request_id
from service.observability.metrics import HTTP_DURATION, HTTP_REQUESTS

access_log = logging.getLogger("service.access")

_ID_HEADER = b"x-request-id"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of paths no route serves (404s)
# Logged and counted for a request whose client went away (or whose connection the read
# deadline closed) before any response began: nginx's "client closed request". Not a
# 5xx, which would page someone for a client's doing.
CLIENT_CLOSED = 499
_MAX_LOGGED_PATH = 200


class RequestObserver:
    """Gives each request an id (the client's X-Request-ID when well-formed), sends it
    back, logs one access line, and counts the request by route template."""

    def __init__(self, app: ASGIApp, *, metrics: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        # Children of the counter per label set, resolved once: labels() costs a lock
        # and a dict lookup per call.
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == _ID_HEADER:
                given = value
                break
        rid = accepted_or_new(given)
        token = request_id.set(rid)
        header = (_ID_HEADER, rid.encode("ascii"))
        status = 0
        gone = False  # the client left before the response began
        started = time.perf_counter()

        async def receive_watching() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and not status:
                gone = True
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            if tracing.enabled():
                await self._traced(
                    scope,
                    receive_watching,
                    send_with_id,
                    rid,
                    lambda: CLIENT_CLOSED if gone else status,
                )
            else:
                await self.app(scope, receive_watching, send_with_id)
        finally:
            final = CLIENT_CLOSED if gone else status or 500
            self._finish(scope, final, time.perf_counter() - started)
            request_id.reset(token)

    async def _traced(
        self, scope: Scope, receive: Receive, send: Send, rid: str, status: Any
    ) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        with tracing.request_span(method, headers, {"http.request.method": method}) as span:
            span.set_attribute("request_id", rid)
            try:
                await self.app(scope, receive, send)
            finally:
                route = scope.get("path_template") or UNMATCHED
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status() or 500)

    def _finish(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "other"
        route = scope.get("path_template") or UNMATCHED
        if self.metrics:
            counted = self._counted.get((route, method, status))
            if counted is None:
                counted = self._counted[route, method, status] = HTTP_REQUESTS.labels(
                    route, method, str(status)
                )
            timed = self._timed.get((route, method))
            if timed is None:
                timed = self._timed[route, method] = HTTP_DURATION.labels(route, method)
            counted.inc()
            timed.observe(seconds)
        if access_log.isEnabledFor(logging.INFO):
            # The path as sent (still percent-encoded: no newline can forge a log line);
            # never the query string or the body.
            raw = scope.get("raw_path") or scope["path"].encode("utf-8", "replace")
            path = raw.decode("latin-1")[:_MAX_LOGGED_PATH]
            duration_ms = round(seconds * 1000, 2)
            access_log.info(
                "%s %s %d %.1f ms",
                method,
                path,
                status,
                duration_ms,
                extra={
                    "method": method,
                    "route": route,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )
