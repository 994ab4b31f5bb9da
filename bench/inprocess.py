"""The real app in-process (AsyncTestClient, real openai client) against a ScriptedUpstream."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.fakes.upstream import ScriptedUpstream

ANSWER_REPLY = {"answer": "Dmitry Peskov", "sentence": 17}
SUMMARY_REPLY = {
    "sentences": [
        {
            "text": "Russia will treat any US troops sent to Ukraine as invaders, Putin said.",
            "sources": [3],
        }
    ]
}


@contextlib.contextmanager
def scripted_upstream() -> Iterator[ScriptedUpstream]:
    """A ScriptedUpstream on a thread of this process (these benchmarks count its calls)."""
    upstream = ScriptedUpstream()
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.stop()


@contextlib.asynccontextmanager
async def service_client(
    upstream: ScriptedUpstream, **overrides: Any
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """The service app with settings like a deployment's, talking to upstream."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            llm_base_url=upstream.url,
            llm_model="scripted",
            llm_max_retries=0,
            llm_timeout_s=60.0,
            database_path=Path(tmp) / "documents.sqlite3",
            **overrides,
        )
        async with AsyncTestClient(app=create_app(settings), timeout=120) as client:
            yield client


async def store_document(client: AsyncTestClient, text: str) -> dict[str, Any]:  # type: ignore[type-arg]
    """POST a document and read it back (id, tokens, sentence spans)."""
    created = await client.post("/v1/documents", json={"text": text})
    if created.status_code not in (200, 201):
        raise RuntimeError(f"storing the document failed: {created.status_code} {created.text}")
    detail = await client.get(f"/v1/documents/{created.json()['id']}")
    return detail.json()  # type: ignore[no-any-return]
