"""Domain errors and their mapping to RFC 9457 problem details, in one place."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from service.errors import ServiceError
from service.llm.base import LLMError

log = logging.getLogger("service.api")
PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://grounded.dev/problems/"


def problem(
    status: int,
    problem_type: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _service_error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[dict[str, Any]]:
    if isinstance(exc, LLMError):
        log.warning("model call failed on %s %s: %s", request.method, request.url.path, exc)
    return problem(exc.status_code, exc.problem_type, exc.title, exc.detail, exc.headers)


def _validation_error(
    _: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    # Bodies that parse but break the schema (wrong type, unknown enum value or field).
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = []
    for e in extra:
        if not isinstance(e, dict):
            continue
        message = str(e.get("message", ""))
        if message == "'data'":  # msgspec's KeyError text when there is no body at all
            message = "the request needs a JSON body"
        errors.append({"field": e.get("key"), "message": message, "source": e.get("source")})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(exc.detail)
    return problem(422, "invalid-field", "Invalid field", detail, errors=errors)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status == 400:
        # Litestar raises a plain 400 only when the body cannot be decoded at all.
        return problem(
            400, "malformed-json", "Malformed JSON", f"the body is not valid JSON: {exc.detail}"
        )
    names = {
        400: "bad-request",
        401: "unauthorized",
        404: "not-found",
        405: "method-not-allowed",
        413: "body-too-large",
        415: "unsupported-media-type",
        429: "too-many-requests",
    }
    return problem(
        status,
        names.get(status, f"http-{status}"),
        str(exc.detail or "HTTP error"),
        str(exc.detail or ""),
        headers=exc.headers,
    )


def _undecodable(_: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[dict[str, Any]]:
    # Litestar decodes JSON bodies lazily, in the handler's argument parsing; a body
    # that is not UTF-8 surfaces here rather than as its own 400.
    return problem(
        400,
        "invalid-utf8",
        "Invalid UTF-8",
        f"the body is not valid UTF-8: byte 0x{exc.object[exc.start]:02x} at offset {exc.start}",
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # Logged with its traceback for operators; the client gets no internals.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal-error",
        "Internal error",
        "the service failed unexpectedly; the error was logged",
    )


EXCEPTION_HANDLERS = {
    ServiceError: _service_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    UnicodeDecodeError: _undecodable,
    Exception: _unexpected,
}
