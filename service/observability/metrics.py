"""The service's Prometheus metrics: every metric object, in one place.

Label values come from small fixed sets (route templates, kinds, outcomes, reasons),
never from document ids, questions or raw paths, so the number of series is bounded.

Multi-process: with PROMETHEUS_MULTIPROC_DIR set (before this module is imported:
prometheus-client picks its storage at import), every process writes its values to
files there and a scrape of any worker merges them (`exposition`); otherwise the
default in-memory registry serves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

PREFIX = "grounded_"
# Seconds. Requests: cache hits take ~1 ms, model calls seconds, long summaries minutes.
_REQUEST_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)

HTTP_REQUESTS = Counter(
    PREFIX + "http_requests",
    "HTTP requests answered, by route template, method and status.",
    ("route", "method", "status"),
)
HTTP_DURATION = Histogram(
    PREFIX + "http_request_duration_seconds",
    "Time from a request's arrival to the end of its response (streams included).",
    ("route", "method"),
    buckets=_REQUEST_BUCKETS,
)

# What a model call is for. Set by the pipeline around its calls (a contextvar, so the
# LLM protocol stays as it is); "probe" is the readiness check of the model endpoint.
MODEL_CALL_KINDS = (
    "answer",
    "answer_check",
    "summary",
    "summary_map",
    "summary_reduce",
    "reask",
    "probe",
)
MODEL_CALLS = Counter(
    PREFIX + "model_calls",
    "Model calls by kind and outcome (ok, timeout, unavailable, bad_output, refused, error).",
    ("kind", "outcome"),
)
MODEL_DURATION = Histogram(
    PREFIX + "model_call_duration_seconds",
    "Duration of model calls, retries included, by kind and outcome.",
    ("kind", "outcome"),
    buckets=_MODEL_BUCKETS,
)
MODEL_TTFT = Histogram(
    PREFIX + "model_time_to_first_token_seconds",
    "Time to the first streamed token of a model call (streamed calls only).",
    ("kind",),
    buckets=_MODEL_BUCKETS,
)
MODEL_TOKENS = Counter(
    PREFIX + "model_tokens",
    "Tokens of successful model calls, by kind and type (prompt, completion).",
    ("kind", "type"),
)

RESULT_CACHE = Counter(
    PREFIX + "result_cache_lookups",
    "Result cache lookups for summaries and answers, by use and result (hit, miss).",
    ("use", "result"),
)
SINGLE_FLIGHT_JOINS = Counter(
    PREFIX + "single_flight_joins",
    "Requests served by joining identical work already in flight (no model call of their own).",
    ("use",),
)
DEGRADED_RESULTS = Counter(
    PREFIX + "degraded_results",
    "Summaries and answers made without the model (extractive fallback), by use.",
    ("use",),
)
THROTTLED = Counter(
    PREFIX + "throttled_requests",
    "Requests refused with 429, by reason (overloaded: MAX_PENDING_REQUESTS; rate-limited).",
    ("reason",),
)
BREAKER_STATE = Gauge(
    PREFIX + "circuit_breaker_state",
    "The model circuit breaker: 0 closed, 1 half-open, 2 open (the worst of live workers).",
    multiprocess_mode="livemax",
)
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}
DOCUMENTS_STORED = Counter(PREFIX + "documents_stored", "Documents newly stored.")
DOCUMENTS_DELETED = Counter(PREFIX + "documents_deleted", "Documents deleted.")
EMBEDDED_RESTARTS = Counter(
    PREFIX + "embedded_model_restarts",
    "Restarts of the embedded model server after it died or stopped answering.",
)


@dataclass(frozen=True, slots=True)
class ModelCallContext:
    """What the next model calls in this context are for (labels and span attributes)."""

    kind: str
    prompt_version: str | None = None


model_call_context: ContextVar[ModelCallContext | None] = ContextVar(
    "model_call_context", default=None
)


@contextlib.contextmanager
def model_call(kind: str, prompt_version: str | None = None) -> Iterator[None]:
    """Label the model calls made inside the block (tasks started inside inherit it)."""
    token = model_call_context.set(ModelCallContext(kind, prompt_version))
    try:
        yield
    finally:
        model_call_context.reset(token)


def current_model_call() -> ModelCallContext:
    """The labels of a model call made now ("other" outside any labelled block)."""
    return model_call_context.get() or ModelCallContext("other")


def set_breaker_state(state: str) -> None:
    """Record the circuit breaker's state (closed, half-open, open)."""
    BREAKER_STATE.set(BREAKER_STATES.get(state, 0))


# The client's content type without its charset parameter, which web frameworks add to
# every text/* type themselves (Litestar would send it twice).
CONTENT_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


def exposition(multiprocess_dir: Path | None) -> bytes:
    """The text a scrape gets (UTF-8, content type CONTENT_TYPE). With a multi-process
    directory the registry is built for this scrape from every process's files (the
    client's rule: never a global registry in that mode)."""
    if multiprocess_dir is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))
    return generate_latest(registry)
