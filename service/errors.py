"""Domain errors. Each carries the HTTP status and problem type the API maps it to."""

from __future__ import annotations


class ServiceError(Exception):
    """An error a client can act on."""

    status_code = 400
    problem_type = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        problem_type: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        if problem_type is not None:
            self.problem_type = problem_type


class MalformedBody(ServiceError):
    status_code = 400
    problem_type = "malformed-json"
    title = "Malformed request body"


class InvalidCursor(ServiceError):
    status_code = 400
    problem_type = "invalid-cursor"
    title = "Invalid cursor"


class DocumentNotFound(ServiceError):
    status_code = 404
    problem_type = "document-not-found"
    title = "Document not found"


class InvalidInput(ServiceError):
    status_code = 422
    problem_type = "invalid-field"
    title = "Invalid field"


class TextTooLarge(ServiceError):
    status_code = 413
    problem_type = "text-too-large"
    title = "Text too large"


class UnsupportedMediaType(ServiceError):
    status_code = 415
    problem_type = "unsupported-media-type"
    title = "Unsupported media type"


class Unauthorized(ServiceError):
    status_code = 401
    problem_type = "unauthorized"
    title = "Unauthorized"


class Overloaded(ServiceError):
    status_code = 429
    problem_type = "overloaded"
    title = "Too many requests"


class RateLimited(ServiceError):
    status_code = 429
    problem_type = "rate-limited"
    title = "Rate limit exceeded"


class StorageUnavailable(ServiceError):
    status_code = 503
    problem_type = "storage-unavailable"
    title = "Document storage unavailable"


class SharedStateUnavailable(ServiceError):
    status_code = 503
    problem_type = "shared-state-unavailable"
    title = "Shared state unavailable"
