"""`/` serves the page, `/static/*` its CSS and JS; none of it is part of the API schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import get
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import File
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).parent / "static"

# The page loads nothing from other origins (no CDN): the policy makes that a rule,
# and keeps article text (untrusted input) from ever running as script.
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# No build step means no hashed file names: revalidate so a deploy shows up at once.
REVALIDATE = CacheControlHeader(no_cache=True)


@get("/", include_in_schema=False, cache_control=REVALIDATE)
async def index() -> File:
    return File(
        STATIC_DIR / "index.html",
        content_disposition_type="inline",
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"},
    )


async def no_nul_in_path(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A NUL can name no file; the file system would refuse it with an error (a 500)."""
    if "\x00" in connection.scope["path"]:
        raise NotFoundException("no such file")


static_files = create_static_files_router(
    path="/static",
    guards=[no_nul_in_path],
    directories=[STATIC_DIR],
    name="web-static",
    include_in_schema=False,
    cache_control=REVALIDATE,
)

WEB_ROUTES = [index, static_files]
