"""Log records: every one carries the request id; one line of text or one JSON object each.

Configured in one place (`configure_logging`), by `service serve` and the CLI alike.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Literal

from service.observability.context import current_request_id

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# Fields an access line (or any record) may carry with `extra=`, copied into JSON lines.
ACCESS_FIELDS = ("method", "route", "path", "status", "duration_ms")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, and the
    access fields when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for name in ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _iso_utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


# Per-call INFO lines of the HTTP clients (one per model call and health probe) are noise.
_QUIET = ("httpx", "httpx2", "bm25s")


def configure_logging(
    log_format: LogFormat = "text", level: int = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every record (the service's, uvicorn's, libraries') to one handler on the root
    logger, in the chosen format, with the request id added. Returns that handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
