"""The browser UI: one static page served by the service itself (no build step, no CDN),
and the interactive API docs at /schema."""

from service.web.docs import OfflineSwaggerPlugin, swagger_assets
from service.web.routes import WEB_ROUTES as _PAGE_ROUTES

WEB_ROUTES = [*_PAGE_ROUTES, swagger_assets]

__all__ = ["WEB_ROUTES", "OfflineSwaggerPlugin"]
