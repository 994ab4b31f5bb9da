"""Service configuration: the only module that reads environment variables.

Each setting is declared once, as a field whose metadata names its variable(s), its
meaning and (when it matters) how to read it; `from_env` and the README's table
(`python -m service.settings`, checked by tests/unit/test_settings.py) both come
from these declarations.
"""

from __future__ import annotations

import os
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from limits import parse_many

StructuredOutput = Literal["auto", "json_schema", "json_object", "off"]
SummaryMode = Literal["abstractive", "extractive"]
LogFormat = Literal["text", "json"]
RedisUnavailable = Literal["local", "refuse"]
Prefill = Literal["auto", "on", "off"]


def setting(
    variables: str | tuple[str, ...],
    default: Any,
    meaning: str,
    *,
    shown_default: str | None = None,
) -> Any:
    """A field set by environment variable(s) (the first one set wins)."""
    names = (variables,) if isinstance(variables, str) else variables
    metadata = {"env": names, "meaning": meaning, "shown_default": shown_default}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service."""

    # -- the model ------------------------------------------------------------------------
    llm_base_url: str | None = setting(
        ("LLM_BASE_URL", "OPENAI_BASE_URL"),
        None,
        "OpenAI-compatible endpoint. Unset: start the embedded llama.cpp server",
    )
    llm_api_key: str | None = setting(
        ("LLM_API_KEY", "OPENAI_API_KEY"), None, "key for that endpoint"
    )
    llm_model: str | None = setting(
        "LLM_MODEL",
        None,
        "model name sent to the endpoint",
        shown_default="the embedded model's name, or the first model the endpoint lists",
    )
    llm_timeout_s: float = setting("LLM_TIMEOUT", 120.0, "seconds per model call")
    request_deadline_s: float = setting(
        "REQUEST_DEADLINE",
        300.0,
        "seconds one summary or answer may spend on the model in all (waiting for a slot, "
        "retries, the re-ask, every map-reduce call); then degraded mode or `504`. `0` = none",
    )
    llm_max_retries: int = setting(
        "LLM_MAX_RETRIES",
        2,
        "retries the openai client makes on 429/5xx/connection errors (exponential backoff "
        "with jitter; an upstream `Retry-After` of up to 60 s is honoured)",
    )
    llm_concurrency: int = setting("LLM_CONCURRENCY", 4, "model calls in flight at once")
    llm_structured_output: StructuredOutput = setting(
        "LLM_STRUCTURED_OUTPUT",
        "auto",
        "`json_schema` (OpenAI, vLLM, llama-server), `json_object` (llama-cpp-python's "
        "form), `off`; `auto` probes in that order and remembers what worked",
    )
    llm_temperature: float = setting("LLM_TEMPERATURE", 0.0, "sampling temperature")
    llm_breaker_failures: int = setting(
        "LLM_BREAKER_FAILURES",
        5,
        "after this many failed model calls in a row (unreachable, timeout, 429, 5xx) stop "
        "calling the model for `LLM_BREAKER_RESET` seconds, then let one trial call through",
    )
    llm_breaker_reset_s: float = setting(
        "LLM_BREAKER_RESET", 30.0, "seconds the circuit stays open (see above)"
    )
    degraded_mode: bool = setting(
        "DEGRADED_MODE",
        True,
        "while the model is unavailable, answer extractively (`degraded: true`) instead of "
        "`502`/`504`",
    )
    llm_cache_dir: Path | None = setting(
        "LLM_CACHE_DIR", None, "record every model call on disk there (record/replay)"
    )
    llm_replay: bool = setting(
        "LLM_REPLAY", False, "answer only from the recordings in `LLM_CACHE_DIR`"
    )

    # -- the embedded model server ---------------------------------------------------------
    embedded_model: str = setting(
        "EMBEDDED_MODEL",
        "qwen2.5-coder-1.5b",
        "the embedded model without `LLM_BASE_URL`: `qwen2.5-coder-1.5b` (1.1 GB file, "
        "1.9 GB RAM) or `smollm2-135m` (98 MB, 0.5 GB RAM; far weaker, for tests and small "
        "machines); see [Embedded model](#embedded-model)",
    )
    llm_model_path: Path | None = setting(
        "LLM_MODEL_PATH", None, "any GGUF file for the embedded server (overrides `EMBEDDED_MODEL`)"
    )
    model_cache_dir: Path = setting(
        "MODEL_CACHE_DIR",
        Path("data/models"),
        "where a model shipped in parts is assembled (once, verified by sha256)",
    )
    llm_embedded_port: int = setting(
        "LLM_EMBEDDED_PORT", 0, "loopback port of the embedded server (`0`: a free one)"
    )
    llm_threads: int = setting("LLM_THREADS", 0, "CPU threads of the embedded server (`0`: all)")
    llm_context: int = setting("LLM_CONTEXT", 8192, "context window of the embedded server, tokens")
    llm_startup_timeout_s: float = setting(
        "LLM_STARTUP_TIMEOUT", 120.0, "seconds to wait for the embedded server to answer"
    )

    # -- storage, input and text processing ------------------------------------------------
    database_path: Path = setting(
        "DATABASE_PATH", Path("data/documents.sqlite3"), "SQLite file (WAL) of stored documents"
    )
    max_text_chars: int = setting("MAX_TEXT_CHARS", 2_000_000, "longest article accepted (`413`)")
    max_question_chars: int = setting(
        "MAX_QUESTION_CHARS", 1_000, "longest question accepted (`422`)"
    )
    max_body_bytes: int = setting(
        "MAX_BODY_BYTES", 12_000_000, "largest request body the server reads (`413`)"
    )
    ingest_memory_mb: int = setting(
        "INGEST_MEMORY_MB",
        256,
        "memory the request bodies over 64 KiB being read and processed at once may take "
        "(estimated at 32x their size); more wait for room, `503` after 80% of `REQUEST_READ_TIMEOUT`",
    )
    request_read_timeout_s: float = setting(
        "REQUEST_READ_TIMEOUT",
        30.0,
        "seconds a client has to send a whole request (headers and body); then the "
        "connection is closed",
    )
    keep_alive_timeout_s: float = setting(
        "KEEP_ALIVE_TIMEOUT",
        75.0,
        "seconds an idle keep-alive connection stays open; keep it longer than the idle "
        "timeout of any proxy or client pool in front, so they close first and never send "
        "a request on a connection the service is closing",
    )
    chunk_tokens: int = setting("CHUNK_TOKENS", 256, "tokens per chunk made at ingestion")
    chunk_overlap_tokens: int = setting(
        "CHUNK_OVERLAP_TOKENS", 32, "tokens consecutive chunks share"
    )
    context_budget_tokens: int = setting(
        "CONTEXT_BUDGET_TOKENS",
        1_800,
        "articles longer than this use retrieval (answers) and map-reduce (summaries)",
    )
    retrieval_budget_tokens: int = setting(
        "RETRIEVAL_BUDGET_TOKENS", 1_024, "article tokens shown per question on long articles"
    )
    answer_whole_article_tokens: int = setting(
        "ANSWER_WHOLE_ARTICLE_TOKENS",
        1_000,
        "articles up to this many tokens are shown whole to every question, so the model "
        "server's prompt cache answers the next question on the same article in about a "
        "second; longer ones show only the best sentences (below)",
    )
    prefill_articles: Prefill = setting(
        "PREFILL_ARTICLES",
        "auto",
        "after an article is stored or summarised, and while no request waits for the "
        "model, have it read the article as questions show it (short articles, in steps "
        "of ~160 tokens; a request arriving meanwhile waits for one step at most), so the "
        "first question starts from the server's prompt cache. `auto`: with the embedded "
        "model only (an endpoint that bills by the token would charge for the reads); "
        "`on`; `off`",
    )
    answer_context_sentences: int = setting(
        "ANSWER_CONTEXT_SENTENCES",
        6,
        "sentences shown per question on longer articles: the ones ranked best (`0` = all "
        "of the retrieved chunks)",
    )
    dense_retrieval: bool = setting(
        "DENSE_RETRIEVAL",
        True,
        "rank sentences by BM25 and dense embeddings together (multilingual-e5-small, "
        "bundled); `0`: BM25 alone",
    )
    answer_check: bool = setting(
        "ANSWER_CHECK",
        False,
        "`1`: after answering, ask the model whether the article states the answer and "
        'weigh its probability of "yes" (one token; the article is already in the '
        "server's prompt cache) into answerability; needs an endpoint that returns "
        "logprobs (the embedded server then keeps logits for them). Off by default: with "
        "the default model it did not improve abstention (see the eval section)",
    )
    answerability_threshold: float = setting(
        "ANSWERABILITY_THRESHOLD",
        0.4,
        "answers whose evidence scores below this (0-1, see `answerability` in the API) "
        'are withheld as "not in the article"; lower answers more, higher abstains more. '
        "A request may set its own (`min_answerability`)",
    )
    summary_mode: SummaryMode = setting(
        "SUMMARY_MODE",
        "extractive",
        "`extractive` (the article sentences the model's sentences rest on) or "
        "`abstractive` (the model's own sentences, each verified)",
    )

    # -- caches and load -------------------------------------------------------------------
    result_cache_size: int = setting("RESULT_CACHE_SIZE", 2_048, "summaries/answers kept in memory")
    memory_cache_mb: int = setting(
        "MEMORY_CACHE_MB",
        512,
        "memory the in-process caches may hold in all (estimated): stored documents 1/2, "
        "their search indexes 2/5, finished results 1/10",
    )
    max_pending_requests: int = setting(
        "MAX_PENDING_REQUESTS",
        64,
        "summaries/answers waiting for the model at once; beyond it `429` with `Retry-After` "
        "(joining identical work in flight is always allowed)",
    )

    # -- replicas: shared state ------------------------------------------------------------
    database_url: str | None = setting(
        "DATABASE_URL",
        None,
        "`postgresql://user:pass@host:5432/db`: documents in PostgreSQL, shared by every "
        "replica (schema created and migrated at start-up; a delete reaches every replica "
        "by `NOTIFY`) instead of the `DATABASE_PATH` file",
        shown_default="unset (SQLite)",
    )
    database_pool_size: int = setting(
        "DATABASE_POOL_SIZE", 10, "PostgreSQL connections each replica keeps at most"
    )
    redis_url: str | None = setting(
        "REDIS_URL",
        None,
        "`redis://host:6379/0` (`rediss://` for TLS; Valkey works too): results, "
        "single-flight and `RATE_LIMIT` counters shared by every replica",
        shown_default="unset (per process)",
    )
    redis_unavailable: RedisUnavailable = setting(
        "REDIS_UNAVAILABLE",
        "local",
        "when Redis stops answering mid-run: `local` carries on per process (own cache, "
        "single-flight and rate counters, a warning logged) until it is back; `refuse` "
        "answers `503` `shared-state-unavailable` instead. Either way never a `500`",
    )
    redis_pool_size: int = setting(
        "REDIS_POOL_SIZE", 32, "Redis connections each replica keeps at most"
    )
    single_flight_lease_s: float = setting(
        "SINGLE_FLIGHT_LEASE",
        10.0,
        "seconds a replica's claim on a model call lasts unless renewed (every third of "
        "it while the call runs): after a replica dies, others take over within this",
    )
    shared_result_ttl_s: int = setting(
        "SHARED_RESULT_TTL", 86_400, "seconds a result stays in Redis after it was made"
    )

    # -- access ----------------------------------------------------------------------------
    api_keys: frozenset[str] = setting(
        "API_KEYS",
        frozenset(),
        "comma-separated keys; when set (or `API_KEYS_FILE`), every `/v1/` request needs "
        "`Authorization: Bearer <key>` (`401` otherwise). Probes, the page and the schema "
        "stay open",
    )
    api_keys_file: Path | None = setting(
        "API_KEYS_FILE", None, "a file with one more key a line (`#` comments)"
    )
    rate_limit: str | None = setting(
        "RATE_LIMIT",
        None,
        "requests each API key (each client address without keys) may make to `/v1/`, in "
        "[`limits`](https://limits.readthedocs.io) notation: `60/minute`, "
        "`10/second;1000/day`; over it `429` with `Retry-After`. Counted per process, or in "
        "Redis across replicas with `REDIS_URL`",
        shown_default="unset (none)",
    )
    cors_origins: tuple[str, ...] = setting(
        "CORS_ORIGINS",
        (),
        "comma-separated origins allowed to call the API from browsers",
        shown_default="unset (closed)",
    )
    trusted_proxies: tuple[str, ...] = setting(
        "TRUSTED_PROXIES",
        (),
        "comma-separated proxy addresses whose `X-Forwarded-For`/`-Proto` are believed; "
        "otherwise the peer address is the client",
        shown_default="unset (none)",
    )

    # -- operations ------------------------------------------------------------------------
    log_format: LogFormat = setting(
        "LOG_FORMAT",
        "text",
        "`text` (one line per record) or `json` (one JSON object per line: `timestamp`, "
        "`level`, `logger`, `message`, `request_id`; access lines add `method`, `route`, "
        "`path`, `status`, `duration_ms`)",
    )
    metrics: bool = setting(
        "METRICS",
        True,
        "serve `/metrics` (Prometheus text format: requests, model calls, tokens, caches, "
        "429s, degraded results, circuit breaker, documents, embedded model restarts); `0`: "
        "no `/metrics`, and no counting per request or per model call",
    )
    prometheus_multiproc_dir: Path | None = setting(
        "PROMETHEUS_MULTIPROC_DIR",
        None,
        "with several worker processes (e.g. `uvicorn --workers N --factory "
        "service.app:create_app`): an empty directory where each process keeps its metrics, "
        "so a scrape of any worker sums them all (prometheus-client's multi-process mode; it "
        "reads the variable itself at start-up)",
    )
    otel_exporter_otlp_endpoint: str | None = setting(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        None,
        "OpenTelemetry collector (OTLP over HTTP, e.g. `http://collector:4318`): when set, "
        "one trace span per request, with child spans per model call, evidence gathering "
        "and grounding (token counts and prompt versions, never article text or questions)",
        shown_default="unset (tracing off)",
    )
    otel_service_name: str = setting(
        "OTEL_SERVICE_NAME", "grounded-service", "the service name traces are reported under"
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (os.environ by default)."""
        env = os.environ if env is None else env
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            names: tuple[str, ...] = f.metadata["env"]
            raw = next((env[n].strip() for n in names if env.get(n, "").strip()), None)
            if raw is None:
                continue
            try:
                values[f.name] = _parse(hints[f.name], raw)
            except ValueError as exc:
                raise ValueError(f"{names[0]}: {exc}") from exc
        keys_file = values.get("api_keys_file")
        if keys_file is not None:
            values["api_keys"] = values.get("api_keys", frozenset()) | _read_keys(keys_file)
        settings = cls(**values)
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
        for name, url, schemes in (
            ("DATABASE_URL", self.database_url, ("postgresql", "postgres")),
            ("REDIS_URL", self.redis_url, ("redis", "rediss", "unix")),
        ):
            if url is not None and url.partition("://")[0] not in schemes:
                raise ValueError(f"{name}: expected {schemes[0]}://..., got {url.split(':')[0]}:")
        if self.single_flight_lease_s <= 0:
            raise ValueError("SINGLE_FLIGHT_LEASE must be a positive number of seconds")
        if self.llm_replay and self.llm_cache_dir is None:
            raise ValueError("LLM_REPLAY needs LLM_CACHE_DIR")
        if self.prometheus_multiproc_dir is not None and not self.prometheus_multiproc_dir.is_dir():
            raise ValueError(
                f"PROMETHEUS_MULTIPROC_DIR: {self.prometheus_multiproc_dir} is not a directory"
            )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(hint: Any, raw: str) -> Any:
    """The value of a variable, read as the field's type says."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if raw not in choices:
            raise ValueError(f"expected {'|'.join(choices)}, got {raw!r}")
        return raw
    if origin in (tuple, frozenset):
        items = [item.strip() for item in raw.split(",") if item.strip()]
        return tuple(items) if origin is tuple else frozenset(items)
    if hint is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f"not a boolean: {raw!r}")
    converters: dict[Any, Callable[[str], Any]] = {int: int, float: float, Path: Path, str: str}
    return converters[hint](raw)


def _read_keys(path: Path) -> frozenset[str]:
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"API_KEYS_FILE: {exc}") from exc
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _shown(f: Any) -> str:
    if f.metadata["shown_default"]:
        return str(f.metadata["shown_default"])
    default = f.default if f.default is not MISSING else None
    if default is None or default == () or default == frozenset():
        return "unset"
    if isinstance(default, bool):
        return f"`{int(default)}`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def settings_table() -> str:
    """The README's configuration table, one row per setting, from the declarations."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for f in fields(Settings):
        names = " (or ".join(f"`{n}`" for n in f.metadata["env"])
        names += ")" * (len(f.metadata["env"]) - 1)
        rows.append(f"| {names} | {_shown(f)} | {f.metadata['meaning']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(settings_table() + "\n")
