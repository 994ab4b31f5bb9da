"""A scripted OpenAI-compatible server on loopback: the HTTP edge our tests fake.

Tests `enqueue()` replies (content, HTTP errors, delays, broken bodies) and read
`.history` to see exactly what the service sent. It speaks just enough of the
chat-completions protocol (plain and streaming) for the openai client.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class Reply:
    """One scripted reply to a chat completion request."""

    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    raw_body: bytes | None = None  # sent as-is (broken JSON, HTML error pages...)
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str = "stop"
    prompt_tokens: int = 11
    completion_tokens: int = 7
    # The reply waits until the test sets it: a generation as long as the test needs,
    # with no timing involved.
    hold: threading.Event | None = None
    # Sent as the first token's top_logprobs when the request asks for logprobs.
    top_logprobs: dict[str, float] | None = None


def json_reply(payload: Any, **kwargs: Any) -> Reply:
    """A reply whose content is the JSON encoding of payload."""
    return Reply(content=json.dumps(payload), **kwargs)


class ScriptedUpstream:
    """Serve scripted replies in order; `default` answers when the script is empty."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.history: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each chat completion request
        self.default: Reply | None = None
        self.models_status = 200
        # response_format types the endpoint takes (None: any). Others are refused
        # before the script is consulted, the way real servers refuse them.
        self.response_formats: set[str] | None = None
        self.rejects_like_llama_cpp = False  # 500 + validation message instead of 400
        # Like llama-cpp-python started without logits_all: a request for logprobs
        # gets a 500 naming them (before the script is consulted).
        self.refuses_logprobs = False
        self.rejected: list[dict[str, Any]] = []
        # Like llama.cpp's server: one generation at a time, and /models waits for it.
        self.one_at_a_time = False
        self._model_lock: asyncio.Lock | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        """Chat completion requests received."""
        return len(self.history)

    def enqueue(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def reset(self) -> None:
        self.script.clear()
        self.history.clear()
        self.arrivals.clear()
        self.default = None
        self.models_status = 200
        self.response_formats = None
        self.rejects_like_llama_cpp = False
        self.refuses_logprobs = False
        self.rejected.clear()
        self.one_at_a_time = False

    def start(self) -> None:
        # IPPROTO_TCP (not 0) so asyncio sets TCP_NODELAY: otherwise every reply waits
        # ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app, log_level="warning", lifespan="off", access_log=False, interface="asgi3"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("scripted upstream did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.one_at_a_time:
            if self._model_lock is None:
                self._model_lock = asyncio.Lock()  # made in the server's own event loop
            async with self._model_lock:
                await self._serve(scope, body, send)
        else:
            await self._serve(scope, body, send)

    async def _serve(self, scope: dict[str, Any], body: bytes, send: Any) -> None:
        path = scope["path"]
        if path.endswith("/models"):
            payload = {
                "object": "list",
                "data": [{"id": "scripted", "object": "model", "owned_by": "tests"}],
            }
            await _send_json(send, self.models_status, payload)
            return
        if not path.endswith("/chat/completions"):
            await _send_json(send, 404, {"error": {"message": f"no route {path}"}})
            return
        request = json.loads(body)
        form = (request.get("response_format") or {}).get("type")
        formats = self.response_formats
        if form is not None and formats is not None and form not in formats:
            self.rejected.append(request)
            await _send_json(send, *_rejection(form, self.rejects_like_llama_cpp))
            return
        if request.get("logprobs") and self.refuses_logprobs:
            self.rejected.append(request)
            message = "logprobs is not supported for models created with logits_all=False"
            await _send_json(send, 500, {"error": {"message": message, "type": "server_error"}})
            return
        self.arrivals.append(time.monotonic())
        self.history.append(request)
        reply = self.script.popleft() if self.script else self.default
        if reply is None:
            await _send_json(
                send, 500, {"error": {"message": "scripted upstream: script is empty"}}
            )
            return
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        while reply.hold is not None and not reply.hold.is_set():
            await asyncio.sleep(0.01)
        if reply.raw_body is not None or reply.status != 200:
            raw = (
                reply.raw_body
                if reply.raw_body is not None
                else json.dumps(
                    {"error": {"message": "scripted failure", "type": "server_error"}}
                ).encode()
            )
            await _send(send, reply.status, raw, "application/json", reply.headers)
            return
        model = request.get("model", "scripted")
        if request.get("stream"):
            await self._stream(send, reply, model)
            return
        completion = _completion(reply, model)
        if request.get("logprobs") and reply.top_logprobs is not None:
            completion["choices"][0]["logprobs"] = _logprobs(reply, request)
        await _send_json(send, 200, completion, reply.headers)

    async def _stream(self, send: Any, reply: Reply, model: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        pieces = [reply.content[i : i + 7] for i in range(0, len(reply.content), 7)]
        for piece in pieces:
            chunk = {
                "id": "chatcmpl-scripted",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            await send(
                {
                    "type": "http.response.body",
                    "body": f"data: {json.dumps(chunk)}\n\n".encode(),
                    "more_body": True,
                }
            )
        final = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }
        await send(
            {
                "type": "http.response.body",
                "body": f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode(),
                "more_body": False,
            }
        )


def _rejection(form: str, llama_cpp: bool) -> tuple[int, dict[str, Any]]:
    """How real servers refuse a response_format: OpenAI/vLLM answer 400; llama-cpp-python
    answers 500 with a validation message naming the types it takes."""
    if llama_cpp:
        message = "1 validation error: response_format.type Input should be 'text' or 'json_object'"
        return 500, {"error": {"message": message, "type": "internal_server_error"}}
    return 400, {"error": {"message": f"response_format {form!r} is not supported"}}


def _logprobs(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    """The chat-completions logprobs object for the reply's first token."""
    alternatives = sorted((reply.top_logprobs or {}).items(), key=lambda kv: -kv[1])
    top = alternatives[: int(request.get("top_logprobs") or 0)]
    token, logprob = top[0] if top else (reply.content, 0.0)
    return {
        "content": [
            {
                "token": token,
                "logprob": logprob,
                "bytes": None,
                "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in top],
            }
        ]
    }


def _completion(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


async def _send_json(
    send: Any, status: int, payload: Any, headers: dict[str, str] | None = None
) -> None:
    await _send(send, status, json.dumps(payload).encode(), "application/json", headers or {})


async def _send(
    send: Any, status: int, body: bytes, content_type: str, headers: dict[str, str]
) -> None:
    header_list = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    header_list += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": header_list})
    await send({"type": "http.response.body", "body": body})
