"""Real Redis and PostgreSQL servers for tests: plain processes on free ports in a
temporary directory, started and stopped by the tests themselves (no fakes: the
Redis/PostgreSQL code is tested against the engines it runs on).

A missing binary is a failure with the command that installs it, never a skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.service_process import free_port

_INSTALL = "apt-get install -y redis-server postgresql"


def _binary(name: str, *patterns: str) -> str:
    found = shutil.which(name) or next(
        (p for pattern in patterns for p in sorted(glob.glob(pattern), reverse=True)), None
    )
    assert found, f"{name} is not installed; these tests need it ({_INSTALL})"
    return found


def _wait(check: object, what: str, log: Path, within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not start within {within_s:.0f} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text("utf-8", errors="replace")[-3000:]
    except OSError:
        return "(no log)"


class RedisServer:
    """redis-server on 127.0.0.1:<free port>, no persistence."""

    def __init__(self) -> None:
        self.binary = _binary("redis-server")
        self.dir = Path(tempfile.mkdtemp(prefix="test-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> RedisServer:
        log = self.dir / "redis.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.dir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._started("redis-server", log)
        return self

    def _started(self, what: str, log: Path) -> None:
        """Wait until it answers; stop it if it does not (no server outlives a failure)."""
        try:
            _wait(self._answers, what, log)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """postgres on 127.0.0.1:<free port>, trust authentication, user `postgres`; run
    as the `postgres` user when we are root (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        self.bin_dir = (
            Path(_binary("postgres", "/usr/lib/postgresql/*/bin/postgres")).resolve().parent
        )
        self.dir = Path(tempfile.mkdtemp(prefix="test-postgres-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as_user: dict[str, str] = {}
        if os.geteuid() == 0:
            self._as_user = {"user": "postgres", "group": "postgres"}
            shutil.chown(self.dir, "postgres", "postgres")
        log = self.dir / "initdb.log"
        with log.open("ab") as out:
            done = subprocess.run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                **self._as_user,  # type: ignore[arg-type]
            )
        assert done.returncode == 0, f"initdb failed:\n{_tail(log)}"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _answers(self) -> bool:
        ready = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
        )
        return ready.returncode == 0

    def start(self) -> PostgresServer:
        log = self.dir / "postgres.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "max_connections=200",
                    # Tests stop the server cleanly (fast shutdown writes everything);
                    # fsync only matters for power loss.
                    "-c",
                    "fsync=off",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                **self._as_user,  # type: ignore[arg-type]
            )
        self._started("postgres", log)
        return self

    def _started(self, what: str, log: Path) -> None:
        """Wait until it answers; stop it if it does not (no server outlives a failure)."""
        try:
            _wait(self._answers, what, log)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Fast shutdown (SIGINT): clients are disconnected, committed data is kept."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=60)
        self.process = None

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        createdb = str(self.bin_dir / "createdb")
        done = subprocess.run(
            [createdb, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        return self.url(name)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
