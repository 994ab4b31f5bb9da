"""The real service process over HTTP, with the embedded model and with a remote llama.cpp server."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.llm.model_files import SMOLLM2_135M, locate_part
from service.pipeline.context import EvidencePolicy
from service.pipeline.ingest import make_document
from service.pipeline.prefill import prefill_steps
from service.retrieval.index import DocumentIndex
from service.settings import Settings
from tests.citations import assert_valid_citations
from tests.metrics_scrape import Scrape
from tests.service_process import free_port, start_service, stop, tail, wait_ready

pytestmark = pytest.mark.e2e


def processes_matching(*needles: str) -> list[int]:
    """Live pids whose command line contains every needle."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and all(n in cmdline for n in needles):
            found.append(int(entry.name))
    return found


def start(tmp_path: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return start_service(tmp_path / "docs.sqlite3", port, env, tmp_path / "service.log")


async def ready(port: int, process: subprocess.Popen[bytes], tmp_path: Path) -> None:
    await asyncio.to_thread(
        wait_ready, f"http://127.0.0.1:{port}", process, tmp_path / "service.log"
    )


async def exercise_api(base: str, article: str) -> None:
    """Ingest, summarise and ask over HTTP; check the contract, not the model's quality."""
    async with httpx.AsyncClient(base_url=base, timeout=180) as http:
        created = await http.post("/v1/documents", json={"text": article})
        assert created.status_code in (200, 201), created.text
        doc_id = created.json()["id"]
        summary = await http.post(f"/v1/documents/{doc_id}/summary", json={"length": "short"})
        assert summary.status_code == 200, summary.text
        body = summary.json()
        assert body["sentences"], body
        assert assert_valid_citations(article, body) >= len(body["sentences"])
        for question in ("Who interviewed Putin?", "What did Poland clarify?"):
            answer = await http.post(f"/v1/documents/{doc_id}/answers", json={"question": question})
            assert answer.status_code == 200, answer.text
            answer_body = answer.json()
            assert_valid_citations(article, answer_body)
            if answer_body["answerable"]:
                assert answer_body["answer"] and answer_body["citations"]
            else:
                assert answer_body["answer"] is None and answer_body["citations"] == []


async def read_ahead_then_ask(base: str, article: str) -> None:
    """A stored short article is read ahead by the real model server, step by step
    (PREFILL_ARTICLES=auto), and a question after it is answered as usual."""
    settings = Settings()
    index = DocumentIndex.build(
        make_document(article, settings.chunk_tokens, settings.chunk_overlap_tokens)
    )
    steps = len(prefill_steps(index, EvidencePolicy.of(settings)))
    assert steps >= 2

    def reads(scrape: Scrape, outcome: str = "ok") -> float:
        return scrape.value("grounded_model_calls_total", kind="prefill", outcome=outcome)

    async with httpx.AsyncClient(base_url=base, timeout=180) as http:
        before = Scrape((await http.get("/metrics")).text)
        created = await http.post("/v1/documents", json={"text": article})
        assert created.status_code == 201, created.text
        deadline = time.monotonic() + 120
        while True:
            now = Scrape((await http.get("/metrics")).text)
            if reads(now) - reads(before) >= steps or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert reads(now) - reads(before) == steps
        assert [reads(now, o) for o in ("error", "refused", "bad_output")] == [0, 0, 0]
        doc_id = created.json()["id"]
        answer = await http.post(
            f"/v1/documents/{doc_id}/answers", json={"question": "Who interviewed Putin?"}
        )
        assert answer.status_code == 200, answer.text
        assert_valid_citations(article, answer.json())


async def test_service_with_embedded_model_serves_and_stops_cleanly(tmp_path, sample_article):
    port, model_port = free_port(), free_port()
    process = start(tmp_path, port, {"LLM_EMBEDDED_PORT": str(model_port), "LLM_CONTEXT": "4096"})
    try:
        await ready(port, process, tmp_path)
        assert processes_matching("llama_cpp.server", str(model_port)), (
            "embedded model server not running"
        )
        await exercise_api(f"http://127.0.0.1:{port}", sample_article)
        await read_ahead_then_ask(
            f"http://127.0.0.1:{port}", sample_article + "\nThe Kremlin did not comment further."
        )
    finally:
        code = stop(process)
    # uvicorn re-raises the SIGTERM it handled after a graceful shutdown.
    assert code in (0, -signal.SIGTERM), tail(tmp_path / "service.log")
    assert "Application shutdown complete" in (tmp_path / "service.log").read_text()
    deadline = time.monotonic() + 10
    while processes_matching("llama_cpp.server", str(model_port)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert processes_matching("llama_cpp.server", str(model_port)) == [], "orphaned model server"


@pytest.fixture
def remote_llama() -> Iterator[str]:
    """A llama.cpp server started separately, as a user's own server would be."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(locate_part(SMOLLM2_135M.parts[0])),
            "--model_alias",
            "remote-smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--interrupt_requests",
            "False",
            "--verbose",
            "False",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        server.wait(timeout=20)


async def concurrent_first_requests(base: str, article: str, long_article: str) -> None:
    """Issue #15's reproduction: right after start-up, a long-article summary (its map
    calls run concurrently) and three questions at once against a server that refuses
    json_schema. Every one must succeed with valid citations."""
    async with httpx.AsyncClient(base_url=base, timeout=300) as http:
        requests = [
            http.post("/v1/summarize", json={"text": long_article, "length": "short"}),
            *(
                http.post("/v1/ask", json={"text": article, "question": q})
                for q in ("Who interviewed Putin?", "What did Poland clarify?", "Who is Peskov?")
            ),
        ]
        responses = await asyncio.gather(*requests)
    for response, text in zip(responses, [long_article] + [article] * 3, strict=True):
        assert response.status_code == 200, response.text
        assert_valid_citations(text, response.json())


async def test_service_with_remote_endpoint_uses_the_same_code_path(
    tmp_path, sample_article, remote_llama, shared_data
):
    port = free_port()
    process = start(tmp_path, port, {"LLM_BASE_URL": remote_llama, "LLM_MODEL": "remote-smollm2"})
    try:
        await ready(port, process, tmp_path)
        # No embedded server of our own: the service talks to the remote one.
        assert not [
            p for p in processes_matching("llama_cpp.server") if str(process.pid) in _parent(p)
        ]
        long_article = json.loads(
            (shared_data / "squad2_dev_articles.jsonl").read_text("utf-8").splitlines()[1]
        )["text"]
        await concurrent_first_requests(f"http://127.0.0.1:{port}", sample_article, long_article)
        await exercise_api(f"http://127.0.0.1:{port}", sample_article)
    finally:
        assert stop(process) in (0, -signal.SIGTERM)
    assert "Traceback" not in (tmp_path / "service.log").read_text()


def _parent(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    except OSError:
        return ""
