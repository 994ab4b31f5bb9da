"""Domain errors and their mapping to RFC 9457 problem details, in one place."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.utils.scope.state import ScopeState

from service.api.schemas import FIELD_CHECKS
from service.errors import MalformedBody, ServiceError
from service.llm.base import LLMError
from service.observability.context import current_request_id
from service.observability.metrics import THROTTLED

log = logging.getLogger("service.api")
PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://grounded.dev/problems/"


def problem_body(
    status: int, problem_type: str, title: str, detail: str, **extra: Any
) -> dict[str, Any]:
    """The RFC 9457 body (JSON responses and SSE `error` events alike), with the id of
    the request it answers (as in the X-Request-ID header and the logs)."""
    body = {
        "type": PROBLEM_BASE + problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    return body


def problem(
    status: int,
    problem_type: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """A problem+json response."""
    body = problem_body(status, problem_type, title, detail, **extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def log_failure(method: str, path: str, exc: BaseException) -> None:
    """Log an error a client is about to see, once, with its cause: unexpected errors
    with their traceback, model failures as warnings (client mistakes are in the
    access log already); and count the 429s by reason."""
    if not isinstance(exc, ServiceError):
        log.error("unhandled error on %s %s", method, path, exc_info=exc)
    elif isinstance(exc, LLMError):
        log.warning("model call failed on %s %s: %s", method, path, exc)
    elif exc.status_code == 429:
        THROTTLED.labels(exc.problem_type).inc()


class JSONRequest(Request[Any, Any, Any]):
    """Litestar's request with JSON decoding failures that are the client's fault
    turned into 400 problems instead of escaping as 500s."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError as exc:
            # msgspec gives up past ~1000 levels of nesting; no request body of ours
            # nests more than three.
            raise MalformedBody("the JSON body is nested too deeply") from exc
        except UnicodeDecodeError as exc:
            raise MalformedBody(
                f"the body is not valid UTF-8: byte 0x{exc.object[exc.start]:02x} at offset "
                f"{exc.start}",
                problem_type="invalid-utf8",
            ) from exc


def _service_error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[dict[str, Any]]:
    log_failure(request.method, request.url.path, exc)
    return problem(exc.status_code, exc.problem_type, exc.title, exc.detail, exc.headers)


def _in_words(request: Request[Any, Any, Any], field: Any, message: str) -> str:
    """msgspec names the constraint a text field broke (`Expected str matching regex
    '^[...' `); the service's own check of that field says what is wrong in words."""
    check = FIELD_CHECKS.get(field) if isinstance(field, str) else None
    body = ScopeState.from_scope(request.scope).json
    value = body.get(field) if isinstance(body, dict) else None
    if check is None or not isinstance(value, str) or not message.startswith("Expected `str`"):
        return message
    try:
        check(value)
    except ServiceError as exc:
        return exc.detail
    return message


def _sentence(field: Any, message: str) -> str:
    # The service's own words name their field already ("question is empty").
    return message if message.startswith(f"{field} ") else f"{field}: {message}"


def _validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
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
        message = _in_words(request, e.get("key"), message)
        errors.append({"field": e.get("key"), "message": message, "source": e.get("source")})
    detail = "; ".join(_sentence(e["field"], e["message"]) for e in errors) or str(exc.detail)
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
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "HTTP error"
    return problem(
        status,
        names.get(status, f"http-{status}"),
        phrase,
        str(exc.detail or phrase),
        headers=exc.headers,
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # Logged with its traceback for operators; the client gets no internals.
    log_failure(request.method, request.url.path, exc)
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
    Exception: _unexpected,
}
