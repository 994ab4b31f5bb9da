"""`python -m bench.bare_service`: the service as `service serve` runs it, minus what
issue #13 added around every request (the request observer: X-Request-ID, access line,
request metrics) and with METRICS=0 (no model-call metrics): the "without" side of
bench/overhead.py's observability cost."""

from __future__ import annotations

import argparse
import logging

from service.api.observe import RequestObserver
from service.app import create_app
from service.observability.logs import configure_logging
from service.server import serve
from service.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_service", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.from_env()
    if settings.metrics:
        raise SystemExit("bench.bare_service measures the service without metrics: METRICS=0")
    configure_logging(settings.log_format, logging.INFO)  # as `service serve` does
    app = create_app(settings)
    observer = app.asgi_handler
    if not isinstance(observer, RequestObserver):
        raise SystemExit("create_app no longer wraps the app in a RequestObserver")
    app.asgi_handler = observer.app
    serve(settings, args.host, args.port, app=app)


if __name__ == "__main__":
    main()
