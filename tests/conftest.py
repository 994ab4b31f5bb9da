"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.fakes.upstream import ScriptedUpstream

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
        # Fault tests see the 502/504 mapping; tests/api/test_degraded.py turns it on.
        degraded_mode=False,
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """The real app (real openai client) talking to the scripted upstream."""
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client
