"""What every response carries: nosniff and a Content-Security-Policy fit for what it
is (the page, the API docs, or data); a refused CORS preflight as a problem; and an
OPTIONS answer's Allow naming every method of its path."""

from __future__ import annotations

import json

from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

from service.api.errors import PROBLEM_JSON, problem_body

# The page loads nothing from other origins (no CDN): the policy makes that a rule,
# and keeps article text (untrusted input) from ever running as script.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI sets inline style attributes; scripts stay 'self' only.
DOCS_CSP = PAGE_CSP + "; style-src 'self' 'unsafe-inline'"
# JSON, problems and event streams are data: nothing in them may load or run.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"

_REFUSED_PREFLIGHT = "cors_refusal"


async def security_headers(message: Message, scope: Scope) -> None:
    """before_send hook: nosniff and a CSP on every response."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders(message)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    if "Content-Security-Policy" in headers:
        return
    if headers.get("Content-Type", "").startswith("text/html"):
        path = scope.get("path", "")
        headers["Content-Security-Policy"] = DOCS_CSP if path.startswith("/schema") else PAGE_CSP
    else:
        headers["Content-Security-Policy"] = DATA_CSP


async def cors_refusal_as_problem(message: Message, scope: Scope) -> None:
    """before_send hook: Litestar refuses a CORS preflight with a text/plain 400; every
    error of this API is problem+json, so rewrite it (headers first, then the body)."""
    state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders(message)
        preflight = scope.get("method") == "OPTIONS" and any(
            name == b"origin" for name, _ in scope.get("headers", ())
        )
        if not (preflight and message["status"] == 400):
            return
        if not headers.get("Content-Type", "").startswith("text/plain"):
            return
        body = json.dumps(
            problem_body(
                400,
                "cors-refused",
                "Cross-origin request refused",
                "this origin, method or header is not allowed (CORS_ORIGINS)",
            )
        ).encode()
        state[_REFUSED_PREFLIGHT] = body
        headers["Content-Type"] = PROBLEM_JSON
        headers["Content-Length"] = str(len(body))
    elif message["type"] == "http.response.body" and _REFUSED_PREFLIGHT in state:
        message["body"] = state.pop(_REFUSED_PREFLIGHT)
        message["more_body"] = False


async def allow_every_method(message: Message, scope: Scope) -> None:
    """before_send hook: the Allow header of an OPTIONS answer lists every method its
    path accepts.

    Litestar 2.25 builds a path's route one handler at a time, and the OPTIONS handler
    it makes for the first handler keeps that handler's methods: `OPTIONS
    /v1/documents/{id}` said `GET, HEAD, OPTIONS` and hid DELETE.
    """
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    headers = MutableScopeHeaders(message)
    template = scope.get("path_template")
    if "Allow" not in headers or not template:
        return
    for route in scope["app"].routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            headers["Allow"] = ", ".join(sorted(route.methods))
            return
