"""The browser UI: one static page served by the service itself (no build step, no CDN)."""

from service.web.routes import WEB_ROUTES

__all__ = ["WEB_ROUTES"]
