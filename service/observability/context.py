"""The request a piece of work belongs to, carried by a contextvar (logs, problem bodies)."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
# Taken from the client only when it is this plain: anything else (spaces, quotes, control
# characters, kilobytes) could forge or break log lines, so it is replaced.
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._-]{1,128}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return request_id.get()


def new_request_id() -> str:
    """A fresh id: 24 hex digits (96 random bits), cheaper than a uuid4 string."""
    return os.urandom(12).hex()


def accepted_or_new(given: bytes | None) -> str:
    """The client's X-Request-ID when well-formed, else a new one."""
    if given is not None and _WELL_FORMED.fullmatch(given):
        return given.decode("ascii")
    return new_request_id()
