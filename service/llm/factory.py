"""Build the model client the settings describe (starting the embedded server if needed)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from service.llm.base import LLM
from service.llm.breaker import BreakerLLM, CircuitBreaker
from service.llm.model_files import ModelFileError, model_path, tier_named
from service.llm.observed import ObservedLLM
from service.llm.openai_client import OpenAICompatibleLLM, first_listed_model
from service.llm.recording import RecordingLLM
from service.settings import Settings

log = logging.getLogger(__name__)

# llama-cpp-python's server generates for one request at a time (no parallel slots):
# more calls in flight would only queue inside it, where they time out.
EMBEDDED_SLOTS = 1


def embedded_model_name(settings: Settings) -> str:
    """The name the embedded model is served and reported under."""
    if settings.llm_model:
        return settings.llm_model
    if settings.llm_model_path is not None:
        return settings.llm_model_path.stem
    return tier_named(settings.embedded_model).name


async def embedded_model_file(settings: Settings) -> Path:
    """The GGUF file to serve: LLM_MODEL_PATH, or the EMBEDDED_MODEL tier's (assembled
    and verified on first use, off the event loop)."""
    if settings.llm_model_path is not None:
        if not settings.llm_model_path.is_file():
            raise ModelFileError(f"LLM_MODEL_PATH: no such file {settings.llm_model_path}")
        return settings.llm_model_path
    tier = tier_named(settings.embedded_model)
    if tier.assembled and not (settings.model_cache_dir / tier.file_name).exists():
        log.info("assembling %s into %s (once)", tier.file_name, settings.model_cache_dir)
    return await anyio.to_thread.run_sync(model_path, tier, settings.model_cache_dir)


@asynccontextmanager
async def open_llm(settings: Settings) -> AsyncIterator[LLM]:
    """The configured model for the duration of the block; the embedded server (when
    no endpoint is configured) is started before and stopped after."""
    embedded = None
    base_url = settings.llm_base_url
    structured = settings.llm_structured_output
    concurrency = settings.llm_concurrency
    model = settings.llm_model
    if settings.llm_replay:
        base_url = base_url or "http://127.0.0.1:9/v1"  # never called in replay mode
        # Recordings are keyed by model name: the same name as when they were made.
        model = model or (None if settings.llm_base_url else embedded_model_name(settings))
    elif base_url is None:
        from service.llm.embedded import EmbeddedModelServer

        model = embedded_model_name(settings)
        embedded = EmbeddedModelServer.from_settings(
            settings, await embedded_model_file(settings), model
        )
        log.info("starting the embedded model server: %s", " ".join(embedded.command()))
        await embedded.start()
        base_url = embedded.base_url
        concurrency = min(concurrency, EMBEDDED_SLOTS)
        if structured == "auto":
            # llama-cpp-python's server takes {"type": "json_object", "schema": ...}.
            structured = "json_object"
    if model is None:
        model = await first_listed_model(base_url, settings.llm_api_key)
        if model is None:
            raise ModelFileError(
                f"LLM_MODEL is not set and {base_url} lists no model: set LLM_MODEL"
            )
        log.info(
            "using model %r, the first one %s lists (set LLM_MODEL to choose)", model, base_url
        )
    llm: LLM = OpenAICompatibleLLM(
        base_url=base_url,
        api_key=settings.llm_api_key,
        model=model,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        concurrency=concurrency,
        structured_output=structured,
        temperature=settings.llm_temperature,
        health_check=embedded.healthy if embedded is not None else None,
        alive=(lambda: embedded.serving) if embedded is not None else None,
    )
    llm = BreakerLLM(
        llm, CircuitBreaker(settings.llm_breaker_failures, settings.llm_breaker_reset_s)
    )
    # Outside the breaker, so calls it refuses are counted too (outcome circuit_open);
    # inside the recorder, so replayed calls are not (they never reach a model).
    if settings.metrics or settings.otel_exporter_otlp_endpoint:
        llm = ObservedLLM(llm)
    if settings.llm_cache_dir is not None:
        llm = RecordingLLM(llm, settings.llm_cache_dir, replay_only=settings.llm_replay)
    try:
        yield llm
    finally:
        await llm.aclose()
        if embedded is not None:
            await embedded.stop()
