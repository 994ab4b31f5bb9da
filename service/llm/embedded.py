"""Run llama-cpp-python's OpenAI-compatible server as a supervised child process."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import httpx

from service.llm.base import LLMStartupError
from service.observability.metrics import EMBEDDED_RESTARTS

if TYPE_CHECKING:
    from service.settings import Settings

log = logging.getLogger("service.llm.embedded")

# llama_cpp.server reads its settings through pydantic-settings, which also looks at
# environment variables named like its fields (case-insensitively), and its __main__
# lets HOST/PORT override --host/--port. A stray PORT, API_KEY, MODEL or CACHE in our
# environment would silently reconfigure the child, so the child gets an environment
# without them. Field list of llama-cpp-python 0.3.36 (the e2e test checks it is complete).
_SERVER_ENV_NAMES = frozenset(
    {
        "api_key", "cache", "cache_size", "cache_type", "chat_format", "chat_template_kwargs",
        "clip_model_path", "config_file", "disable_ping_events", "draft_model",
        "draft_model_num_pred_tokens", "embedding", "flash_attn", "hf_model_repo_id",
        "hf_pretrained_model_name_or_path", "hf_tokenizer_config_path", "host",
        "interrupt_requests", "kv_overrides", "last_n_tokens_size", "logits_all", "lora_base",
        "lora_path", "main_gpu", "model", "model_alias", "models", "mul_mat_q", "n_batch",
        "n_ctx", "n_gpu_layers", "n_threads", "n_threads_batch", "n_ubatch", "numa",
        "offload_kqv", "port", "root_path", "rope_freq_base", "rope_freq_scale",
        "rope_scaling_type", "rpc_servers", "seed", "split_mode", "ssl_certfile", "ssl_keyfile",
        "tensor_split", "type_k", "type_v", "use_mlock", "use_mmap", "verbose", "vocab_only",
        "yarn_attn_factor", "yarn_beta_fast", "yarn_beta_slow", "yarn_ext_factor",
        "yarn_orig_ctx",
    }
)  # fmt: skip

_PR_SET_PDEATHSIG = 1
_TAIL_LINES = 40


class EmbeddedServerError(LLMStartupError):
    """The embedded model server could not be found, started or kept running."""


def _load_prctl() -> Callable[..., int] | None:
    # Resolved once, in the parent: calling dlopen between fork and exec in a
    # multi-threaded process can deadlock, so the child only calls a ready pointer.
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _child_preexec(parent_pid: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: die with the parent."""

    def setup() -> None:
        if _PRCTL is None:
            return
        # Delivered when the thread that forked us exits, i.e. when our process dies
        # (even by SIGKILL), as long as the event loop runs in the main thread.
        _PRCTL(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent_pid:
            # The parent died before prctl took effect: nobody will ever stop us.
            os.kill(os.getpid(), signal.SIGTERM)

    return setup


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _cpu_count() -> int:
    # Affinity honours taskset/cpusets (docker --cpuset-cpus); cpu_count() does not.
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in _SERVER_ENV_NAMES}
    # Unbuffered output so the log tail in error messages is complete when it dies.
    env["PYTHONUNBUFFERED"] = "1"
    return env


class EmbeddedModelServer:
    """A llama.cpp model served over OpenAI's HTTP API by a child process we supervise."""

    def __init__(
        self,
        model_path: Path | str,
        model_alias: str = "smollm2-135m-instruct",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        n_ctx: int = 8192,
        n_threads: int = 0,
        startup_timeout_s: float = 120.0,
        log_path: Path | str | None = None,
        logits_all: bool = False,
        prompt_cache: bool = False,
        prompt_cache_bytes: int = 256 << 20,
        extra_args: Sequence[str] = (),
        stop_grace_s: float = 5.0,
        max_restarts_per_minute: int = 5,
        restart_backoff_s: float = 0.5,
        restart_backoff_max_s: float = 30.0,
        health_interval_s: float | None = 15.0,
        unhealthy_after: int = 4,
    ) -> None:
        self.model_path = Path(model_path)
        self.model_alias = model_alias
        self.host = host
        self._auto_port = port == 0
        self.port = _free_port(host) if port == 0 else port
        self.n_ctx = n_ctx
        self.n_threads = n_threads if n_threads > 0 else _cpu_count()
        self.startup_timeout_s = startup_timeout_s
        self.log_path = Path(log_path) if log_path is not None else None
        self.logits_all = logits_all
        self.prompt_cache = prompt_cache
        self.prompt_cache_bytes = prompt_cache_bytes
        self.extra_args = tuple(extra_args)
        self.stop_grace_s = stop_grace_s
        self.max_restarts_per_minute = max_restarts_per_minute
        self.restart_backoff_s = restart_backoff_s
        self.restart_backoff_max_s = restart_backoff_max_s
        self.health_interval_s = health_interval_s
        self.unhealthy_after = unhealthy_after
        self.restarts = 0

        self._proc: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._serving = False
        self._started_at = 0.0
        self._restart_times: collections.deque[float] = collections.deque()
        self._output: collections.deque[str] = collections.deque(maxlen=200)

    @classmethod
    def from_settings(
        cls, settings: Settings, model_path: Path, model_name: str, **overrides: object
    ) -> EmbeddedModelServer:
        """Serve model_path (as model_name) the way the LLM_* settings describe."""
        kwargs: dict[str, object] = {
            "model_alias": model_name,
            "port": settings.llm_embedded_port,
            "n_ctx": settings.llm_context,
            "n_threads": settings.llm_threads,
            "startup_timeout_s": settings.llm_startup_timeout_s,
            # Logprobs (ANSWER_CHECK) need the server's logits for every token.
            "logits_all": settings.answer_check,
        }
        kwargs.update(overrides)
        return cls(model_path, **kwargs)  # type: ignore[arg-type]

    # -- public surface -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """OpenAI base URL of the server, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, None when there is none."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return None
        return proc.pid

    @property
    def serving(self) -> bool:
        """True while the process is alive and has loaded the model (answered once)."""
        return self._serving and self.pid is not None

    @property
    def running(self) -> bool:
        """True while a server process is alive (it may still be loading)."""
        return self.pid is not None

    def command(self) -> list[str]:
        """The argv of the server process."""
        args = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.model_alias,
            "--host", self.host,
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads),
            # The default (True) makes a streaming response stop as soon as another
            # request queues behind it; we queue requests on purpose.
            "--interrupt_requests", "False",
            # Logits for every token: only logprobs need them (ANSWER_CHECK). They cost
            # an n_ctx x vocab float array (5 GB of address space at 8k context with
            # Qwen's 152k vocabulary; resident ~0.6 MB per token evaluated, +0.8 GB
            # seen while calibrating) and a vocab-sized projection per prompt token.
            "--logits_all", str(self.logits_all),
            # Off by default: Llama.generate already reuses the KV prefix shared with
            # the previous request (a 2nd question on the same article skips the
            # article). --cache adds state snapshots that help only when articles
            # interleave, cost ~0.1-0.2 s per request to save, and each snapshot also
            # copies a ~100 MB logits buffer that --cache_size does not count
            # (256 MB configured -> ~3 GB RSS measured).
            "--cache", str(self.prompt_cache),
            "--verbose", "False",
        ]  # fmt: skip
        if self.prompt_cache:
            args += ["--cache_type", "ram", "--cache_size", str(self.prompt_cache_bytes)]
        args += self.extra_args
        return args

    async def start(self) -> None:
        """Spawn the server, wait until it answers, and start supervising it."""
        if self._supervisor is not None:
            raise RuntimeError("embedded model server already started")
        if not self.model_path.is_file():
            raise EmbeddedServerError(f"model file not found: {self.model_path}")
        self._stopping = False
        attempts = 3 if self._auto_port else 1
        for attempt in range(1, attempts + 1):
            try:
                await self._launch()
                break
            except EmbeddedServerError as exc:
                await self._kill_current()
                # A port picked by us can be taken by someone else before the child
                # binds it; pick another one rather than fail.
                if attempt < attempts and "address already in use" in str(exc).lower():
                    self.port = _free_port(self.host)
                    log.warning("port taken before the model server bound it; trying %d", self.port)
                    continue
                raise
            except BaseException:
                await self._kill_current()
                raise
        self._supervisor = asyncio.create_task(self._supervise(), name="embedded-llm-supervisor")

    async def stop(self) -> None:
        """Stop supervising, then SIGTERM the server's process group (SIGKILL after a grace)."""
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await self._kill_current()

    async def healthy(self) -> bool:
        """True when the process is alive and its HTTP server answers."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return False
        # /v1/models waits for the model lock, i.e. behind every queued generation;
        # /docs is served by FastAPI without touching the model, so it measures
        # liveness rather than queue length.
        try:
            async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
                response = await client.get(f"http://{self.host}:{self.port}/docs")
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        """The last lines the server printed (from the log file if there is one)."""
        if self.log_path is not None:
            try:
                with self.log_path.open("rb") as fh:
                    fh.seek(0, os.SEEK_END)
                    fh.seek(max(0, fh.tell() - 16_384))
                    text = fh.read().decode("utf-8", "replace")
            except OSError:
                return ""
            return "\n".join(text.splitlines()[-lines:])
        return "\n".join(list(self._output)[-lines:])

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- process management ----------------------------------------------------------

    async def _launch(self) -> None:
        """Spawn one server process and wait for its first 200 on /v1/models."""
        started = time.monotonic()
        log_file = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = self.log_path.open("ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file if log_file is not None else asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=_child_env(),
                # Own session: a terminal's Ctrl+C reaches us, not the child, so shutdown
                # order stays ours; and killpg() reaches anything it may spawn.
                start_new_session=True,
                preexec_fn=_child_preexec(os.getpid()),
            )
        finally:
            if log_file is not None:
                log_file.close()
        self._proc = proc
        self._started_at = started
        if proc.stdout is not None:
            self._output.clear()
            self._pump = asyncio.create_task(self._pump_output(proc.stdout))
        log.info("embedded model server starting: pid %d, %s", proc.pid, self.base_url)
        await self._wait_ready(proc, started + self.startup_timeout_s)
        self._serving = True
        log.info(
            "embedded model server ready after %.1fs: pid %d, %s (model %s)",
            time.monotonic() - started,
            proc.pid,
            self.base_url,
            self.model_path.name,
        )

    async def _wait_ready(self, proc: asyncio.subprocess.Process, deadline: float) -> None:
        exited = asyncio.ensure_future(proc.wait())
        try:
            async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
                while True:
                    if exited.done():
                        await self._drain_output()
                        raise EmbeddedServerError(
                            f"model server exited with code {proc.returncode} while starting;"
                            f" last output:\n{self.log_tail()}"
                        )
                    # The app loads the model before uvicorn binds the port, so any
                    # answer means the model is loaded.
                    with contextlib.suppress(httpx.HTTPError):
                        response = await client.get(f"{self.base_url}/models")
                        if response.status_code == 200:
                            return
                    if time.monotonic() >= deadline:
                        raise EmbeddedServerError(
                            f"model server did not answer within {self.startup_timeout_s:.0f}s"
                            f" (LLM_STARTUP_TIMEOUT); last output:\n{self.log_tail()}"
                        )
                    await asyncio.wait({exited}, timeout=0.1)
        finally:
            exited.cancel()

    async def _pump_output(self, stream: asyncio.StreamReader) -> None:
        # Without a log file the child's output comes through a pipe: keep a tail for
        # error messages and pass lines to logging at DEBUG (uvicorn's access log
        # would otherwise flood the service's own log).
        pending = b""
        while chunk := await stream.read(65_536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    self._output.append(line)
                    log.debug("model server: %s", line)
        if pending:
            self._output.append(pending.decode("utf-8", "replace").rstrip())

    async def _drain_output(self) -> None:
        if self._pump is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._pump), 1.0)

    def _signal_group(self, proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
        if proc.returncode is not None:
            # Already reaped: its pid (= group id) may belong to someone else by now.
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    async def _kill_current(self) -> None:
        self._serving = False
        proc = self._proc
        if proc is not None:
            if proc.returncode is None:
                self._signal_group(proc, signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), self.stop_grace_s)
                except TimeoutError:
                    log.warning(
                        "model server pid %d ignored SIGTERM for %.0fs; killing it",
                        proc.pid,
                        self.stop_grace_s,
                    )
                    self._signal_group(proc, signal.SIGKILL)
                    await proc.wait()
            log.info("embedded model server pid %d stopped (code %s)", proc.pid, proc.returncode)
        pump, self._pump = self._pump, None
        if pump is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(pump, 1.0)

    # -- supervision -----------------------------------------------------------------

    async def _supervise(self) -> None:
        """Restart the server whenever it dies, with backoff and a per-minute cap."""
        crashes = 0
        while not self._stopping:
            proc = self._proc
            assert proc is not None
            await self._watch(proc)
            self._serving = False
            if self._stopping:
                return
            uptime = time.monotonic() - self._started_at
            await self._drain_output()
            log.warning(
                "embedded model server pid %d exited with code %s after %.0fs; restarting."
                " Last output:\n%s",
                proc.pid,
                proc.returncode,
                uptime,
                self.log_tail(10),
            )
            if uptime > 60:
                crashes = 0  # it had been fine for a while: start the backoff afresh
            while not self._stopping:
                delay = min(self.restart_backoff_s * 2**crashes, self.restart_backoff_max_s)
                crashes += 1
                now = time.monotonic()
                while self._restart_times and now - self._restart_times[0] >= 60:
                    self._restart_times.popleft()
                if len(self._restart_times) >= self.max_restarts_per_minute:
                    delay = max(delay, 60 - (now - self._restart_times[0]))
                    log.error(
                        "embedded model server restarted %d times in a minute; next try in %.0fs",
                        len(self._restart_times),
                        delay,
                    )
                await asyncio.sleep(delay)
                self._restart_times.append(time.monotonic())
                try:
                    await self._launch()
                except Exception as exc:  # keep supervising whatever went wrong
                    log.error("embedded model server restart failed: %s", exc)
                    await self._kill_current()
                    continue
                self.restarts += 1
                EMBEDDED_RESTARTS.inc()
                break

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        """Return when proc has exited; kill it first if it stops answering."""
        exited = asyncio.ensure_future(proc.wait())
        failures = 0
        try:
            while True:
                done, _ = await asyncio.wait({exited}, timeout=self.health_interval_s)
                if done:
                    return
                if await self.healthy():
                    failures = 0
                    continue
                failures += 1
                if failures >= self.unhealthy_after:
                    log.error(
                        "embedded model server pid %d failed %d health checks; killing it",
                        proc.pid,
                        failures,
                    )
                    self._signal_group(proc, signal.SIGKILL)
                    await exited
                    return
        finally:
            exited.cancel()
