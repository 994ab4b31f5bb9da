"""`/` serves the page, `/static/*` its CSS and JS; none of it is part of the API schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import HttpMethod, route
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import File
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).parent / "static"

# No build step means no hashed file names: revalidate so a deploy shows up at once.
REVALIDATE = CacheControlHeader(no_cache=True)


@route(
    "/",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    include_in_schema=False,
    cache_control=REVALIDATE,
)
async def index() -> File:
    # Security headers (CSP, nosniff) come from service/api/headers.py, as on every response.
    return File(
        STATIC_DIR / "index.html", content_disposition_type="inline", media_type="text/html"
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
