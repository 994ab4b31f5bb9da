"""Server-sent events: progress and deltas as the model works, then the final JSON body."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.response import ServerSentEvent, ServerSentEventMessage

from service.api.errors import log_failure, problem_body
from service.errors import ServiceError
from service.llm.base import DeltaCallback, LLMError
from service.pipeline.summarize import ProgressCallback

log = logging.getLogger("service.api")

EVENT_STREAM = "text/event-stream"


class EventStreamResponse(ServerSentEvent):
    """A ServerSentEvent whose content type survives handlers declared as JSON."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        # Litestar prefers the handler's media type (JSON here) over the response's own.
        kwargs["media_type"] = EVENT_STREAM
        return super().to_asgi_response(*args, **kwargs)


def wants_event_stream(request: Request[Any, Any, Any]) -> bool:
    """True when the client asked for server-sent events."""
    return EVENT_STREAM in request.headers.get("accept", "")


# What a model-backed operation runs: given a delta callback and a progress callback (both
# None for a JSON response), it returns the result.
Run = Callable[[DeltaCallback | None, ProgressCallback | None], Awaitable[msgspec.Struct]]


async def respond(request: Request[Any, Any, Any], run: Run) -> Any:
    """The JSON body, or server-sent events when the client asked for them."""
    if wants_event_stream(request):
        return event_stream(run, request.method, request.url.path)
    result = await run(None, None)
    if getattr(result, "degraded", False):
        return Response(result, headers={"X-Degraded": "true"})
    return result


def event_stream(run: Run, method: str, path: str) -> ServerSentEvent:
    """Stream `progress` events ({"done": i, "total": n}, one per map call finished, long
    articles' summaries only) and `delta` events ({"text": ...}) while run() works, then
    one `result` event whose data is the exact JSON body of the non-streaming response
    (or an `error` event carrying a problem+json body)."""

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        queue: asyncio.Queue[ServerSentEventMessage] = asyncio.Queue()
        task = asyncio.ensure_future(
            run(
                lambda text: queue.put_nowait(_delta(text)),
                lambda done, total: queue.put_nowait(_progress(done, total)),
            )
        )
        try:
            while not task.done() or not queue.empty():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            exc = task.exception()
            if exc is None:
                body = msgspec.json.encode(task.result()).decode()
                yield ServerSentEventMessage(event="result", data=body)
                return
            # The access log already said 200 (the headers went first): log it here.
            log_failure(method, path, exc)
            if isinstance(exc, ServiceError):
                if not isinstance(exc, LLMError):
                    log.info(
                        "streamed %s %s ended with %d %s",
                        method,
                        path,
                        exc.status_code,
                        exc.problem_type,
                    )
                yield _error(exc.status_code, exc.problem_type, exc.title, exc.detail)
            else:
                yield _error(
                    500,
                    "internal-error",
                    "Internal error",
                    "the service failed unexpectedly; the error was logged",
                )
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    return EventStreamResponse(events(), headers={"Cache-Control": "no-cache"})


def _delta(text: str) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        event="delta", data=json.dumps({"text": text}, ensure_ascii=False)
    )


def _progress(done: int, total: int) -> ServerSentEventMessage:
    return ServerSentEventMessage(event="progress", data=json.dumps({"done": done, "total": total}))


def _error(status: int, problem_type: str, title: str, detail: str) -> ServerSentEventMessage:
    body = problem_body(status, problem_type, title, detail)
    return ServerSentEventMessage(event="error", data=json.dumps(body))
