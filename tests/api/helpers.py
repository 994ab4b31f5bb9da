"""Small helpers for API tests."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import uvicorn
from litestar import Litestar

# Litestar's AsyncTestClient runs each request to completion in a portal thread, so
# "concurrent" requests through it are served one at a time and races never show.
# These tests drive the app in the test's own event loop instead.


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def captured_logs(
    name: str = "service", level: int = logging.INFO
) -> Iterator[list[logging.LogRecord]]:
    """Records of one logger tree. (caplog hangs its handler on the root logger, which
    Litestar's logging set-up replaces when an app is created inside the test.)"""
    handler = _Records()
    logger = logging.getLogger(name)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@contextmanager
def configured_logs(log_format: str) -> Iterator[io.StringIO]:
    """The service's own logging set-up (as `service serve` does it) writing to a buffer;
    the root logger's handlers and level are restored afterwards."""
    from service.observability.logs import configure_logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    try:
        configure_logging(log_format, stream=buffer)  # type: ignore[arg-type]
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


@asynccontextmanager
async def api_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app, served concurrently in this event loop (lifespan run)."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        # Its own task: pytest-asyncio sets a fixture up and tears it down in different
        # tasks, and the lifespan's cancel scopes must exit in the task they entered.
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(lifespan())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # start-up failed: raise its error here
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        stop.set()
        await task


@contextmanager
def served(app: Litestar) -> Iterator[str]:
    """The app under uvicorn on a loopback port, in a thread of this process (so the
    suite's check for unexpected errors sees its log); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "service did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def store(client: httpx.AsyncClient, text: str, **extra: Any) -> dict[str, Any]:
    """POST a document; return the stored document with text and sentence spans."""
    created = await client.post("/v1/documents", json={"text": text, **extra})
    assert created.status_code in (200, 201), created.text
    detail = await client.get(f"/v1/documents/{created.json()['id']}")
    assert detail.status_code == 200
    return detail.json()  # type: ignore[no-any-return]


def sentence_with(document: dict[str, Any], phrase: str) -> int:
    """Index of the first sentence containing phrase."""
    for i, (start, end) in enumerate(document["sentence_spans"]):
        if phrase in document["text"][start:end]:
            return i
    raise AssertionError(f"no sentence contains {phrase!r}")


def parse_sse(raw: str) -> list[tuple[str, str]]:
    """(event, data) pairs of a server-sent event stream."""
    events: list[tuple[str, str]] = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((event, "\n".join(data)))
    return events


def deltas(events: list[tuple[str, str]]) -> str:
    return "".join(json.loads(d)["text"] for e, d in events if e == "delta")


def assert_problem(response: Any, status: int, type_suffix: str | None = None) -> dict[str, Any]:
    """A problem+json error with this status (and type), without a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"] and body["title"]
    assert "Traceback" not in response.text
    if type_suffix:
        assert body["type"].endswith(type_suffix), body
    return body
