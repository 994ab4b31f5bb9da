"""Fixtures shared by the whole suite."""

from __future__ import annotations

import itertools
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.settings import Settings
from tests.api.helpers import api_client
from tests.fakes.upstream import ScriptedUpstream
from tests.servers import PostgresServer, RedisServer

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: the reference sets every developer and CI has."""
    assert SHARED_DATA.is_dir(), (
        f"{SHARED_DATA} is missing: tests need ../shared/data beside the repo"
    )
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_article(shared_data: Path) -> str:
    return (shared_data / "sample_article.txt").read_text("utf-8")


class _UnexpectedErrors(logging.Handler):
    """Collects the records the service logs for an unexpected error (a 500)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None:
            self.records.append(record)


@pytest.fixture(autouse=True)
def no_unexpected_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every 500 a test provokes is a failure: an unexpected exception must be fixed at
    its cause, never reach a client as a bare 500 (issue #15). Only tests of the 500
    path itself (marked `injects_a_bug`) are exempt, and they check the log themselves."""
    if request.node.get_closest_marker("injects_a_bug"):
        yield
        return
    handler = _UnexpectedErrors()
    logger = logging.getLogger("service")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not handler.records, "unexpected errors were logged:\n" + "\n".join(
        handler.format(r) for r in handler.records
    )


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def upstream(upstream_server: ScriptedUpstream) -> ScriptedUpstream:
    """The scripted OpenAI-compatible upstream, with an empty script."""
    upstream_server.reset()
    return upstream_server


@pytest.fixture
def settings(upstream: ScriptedUpstream, tmp_path: Path) -> Settings:
    return Settings(
        llm_base_url=upstream.url,
        llm_model="scripted-model",
        database_path=tmp_path / "documents.sqlite3",
        llm_max_retries=0,
        llm_timeout_s=5.0,
        llm_structured_output="json_schema",
        summary_mode="abstractive",
        # BM25 alone: these tests pin the HTTP contract against a scripted model, and
        # embedding every stored article would only slow them (tests/api/test_dense.py
        # covers dense ranking).
        dense_retrieval=False,
        # Every grounded answer is returned: these tests pin grounding and the contract;
        # withholding by answerability is tested on its own (test_answerability_threshold).
        answerability_threshold=0.0,
        # Fault tests see the 502/504 mapping; tests/api/test_degraded.py turns it on.
        degraded_mode=False,
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (real openai client) talking to the scripted upstream."""
    async with api_client(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session (fails, never skips, when not installed)."""
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session, run as the `postgres` user under root."""
    server = PostgresServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        assert sock.recv(16).startswith(b"+OK")
    return redis_server.url


_databases = itertools.count()


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL."""
    return postgres_server.create_database(f"test_{os.getpid()}_{next(_databases)}")
