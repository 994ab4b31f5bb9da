"""/schema: the interactive API docs (Swagger UI from the swagger-ui-bundle-v2 package),
served by the service itself: no CDN, no inline script, the same policy as the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from service.web.routes import REVALIDATE

SWAGGER_ASSETS = "/vendor/swagger-ui"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>API · Grounded summaries and answers</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
  <script src="{assets}/swagger-ui-bundle.js" defer></script>
  <script src="/static/js/docs.js" defer></script>
</head>
<body>
  <div id="swagger-ui" data-spec-url="{spec}"></div>
</body>
</html>
"""


class OfflineSwaggerPlugin(OpenAPIRenderPlugin):
    """Swagger UI at /schema (and /schema/swagger), from files this service serves."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"])

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        spec = self.get_openapi_json_route(request)
        return _PAGE.format(assets=SWAGGER_ASSETS, spec=spec).encode()


swagger_assets = create_static_files_router(
    path=SWAGGER_ASSETS,
    directories=[Path(swagger_ui_path)],
    name="swagger-ui-assets",
    include_in_schema=False,
    cache_control=REVALIDATE,
)
