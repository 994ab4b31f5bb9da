"""How the service is served: uvicorn, with a deadline for receiving each request and
proxy headers trusted only from the proxies the settings name."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from litestar import Litestar
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.app import create_app
from service.settings import Settings

log = logging.getLogger("service.server")


class ReadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for receiving a whole request.

    uvicorn has no timeout for a client that connects and sends nothing, or sends its
    headers or body a byte at a time (its keep-alive timer only runs between requests),
    so each such client holds a connection forever. The deadline starts with the
    connection or with the first byte of the next request on it, and stops when h11
    has the complete request; a response that takes long is not affected.
    """

    read_timeout_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self._arm()
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the whole request is in (or the connection is closing)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.read_timeout_s > 0:
            self._deadline = self.loop.call_later(self.read_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.warning(
            "closing a connection from %s: no complete request within %g s (REQUEST_READ_TIMEOUT)",
            f"{self.client[0]}:{self.client[1]}" if self.client else "?",
            self.read_timeout_s,
        )
        self.transport.close()


def serve(settings: Settings, host: str, port: int, app: Litestar | None = None) -> None:
    """Run the HTTP API (create_app(settings) unless given) until interrupted."""
    protocol = type(
        "ReadDeadline", (ReadDeadlineProtocol,), {"read_timeout_s": settings.request_read_timeout_s}
    )
    proxies = ",".join(settings.trusted_proxies)
    uvicorn.run(
        app if app is not None else create_app(settings),
        host=host,
        port=port,
        log_level="info",
        # Logging is the service's (service/observability/logs.py, set up by the CLI):
        # uvicorn's records go through the same handler, and the service writes the
        # access lines itself (with the route, duration and request id).
        log_config=None,
        access_log=False,
        http=protocol,
        # uvicorn's 5 s default equals httpx's pool expiry and is shorter than most
        # proxies' idle timeouts: a request sent as the server closes gets a reset.
        timeout_keep_alive=settings.keep_alive_timeout_s,
        # X-Forwarded-For is believed only from the configured proxies: from anyone
        # else it would let a client pick its own address (and rate-limit bucket).
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )
