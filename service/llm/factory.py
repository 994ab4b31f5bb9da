"""Build the model client the settings describe (starting the embedded server if needed)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.llm.base import LLM
from service.llm.breaker import BreakerLLM, CircuitBreaker
from service.llm.openai_client import OpenAICompatibleLLM
from service.llm.recording import RecordingLLM
from service.settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_llm(settings: Settings) -> AsyncIterator[LLM]:
    """The configured model for the duration of the block; the embedded server (when
    no endpoint is configured) is started before and stopped after."""
    embedded = None
    base_url = settings.llm_base_url
    structured = settings.llm_structured_output
    if settings.llm_replay:
        base_url = base_url or "http://127.0.0.1:9/v1"  # never called in replay mode
    elif base_url is None:
        from service.llm.embedded import EmbeddedModelServer

        embedded = EmbeddedModelServer.from_settings(settings)
        log.info("starting the embedded model server: %s", " ".join(embedded.command()))
        await embedded.start()
        base_url = embedded.base_url
        if structured == "auto":
            # llama-cpp-python's server takes {"type": "json_object", "schema": ...}.
            structured = "json_object"
    llm: LLM = OpenAICompatibleLLM(
        base_url=base_url,
        api_key=settings.llm_api_key,
        model=settings.llm_model,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        concurrency=settings.llm_concurrency,
        structured_output=structured,
        temperature=settings.llm_temperature,
        health_check=embedded.healthy if embedded is not None else None,
    )
    llm = BreakerLLM(
        llm, CircuitBreaker(settings.llm_breaker_failures, settings.llm_breaker_reset_s)
    )
    if settings.llm_cache_dir is not None:
        llm = RecordingLLM(llm, settings.llm_cache_dir, replay_only=settings.llm_replay)
    try:
        yield llm
    finally:
        await llm.aclose()
        if embedded is not None:
            await embedded.stop()
