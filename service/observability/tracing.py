"""OpenTelemetry traces: off unless configured; one span per request, children for model
calls, evidence gathering and grounding.

Off (the default) means no SDK object exists and `span()` hands back a shared no-op
context manager: nothing is recorded or allocated on the request path. Spans carry
counts, names and versions, never article text or questions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

_tracer: trace.Tracer | None = None
_provider: TracerProvider | None = None
_NOTHING: AbstractContextManager[None] = contextlib.nullcontext()
_propagator = TraceContextTextMapPropagator()

AttributeValue = str | int | float | bool


def enabled() -> bool:
    """True when spans are being recorded."""
    return _tracer is not None


def configure_tracing(
    service_name: str,
    *,
    otlp_endpoint: str | None = None,
    exporter: SpanExporter | None = None,
) -> bool:
    """Start recording spans, exported over OTLP/HTTP to otlp_endpoint (a base URL, as
    OTEL_EXPORTER_OTLP_ENDPOINT is) or to `exporter` (tests: the in-memory one). Without
    either, tracing stays off. Returns whether it is on."""
    global _tracer, _provider
    if exporter is None and not otlp_endpoint:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    shutdown_tracing()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        # Tests read spans as soon as a request ends: export each as it finishes.
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        # Imported only now: deployments without an endpoint never load protobuf.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert otlp_endpoint is not None
        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        log.info("tracing on: spans go to %s as %r", endpoint, service_name)
    _provider = provider
    _tracer = provider.get_tracer("service")
    return True


def shutdown_tracing() -> None:
    """Flush what is buffered and stop recording."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def span(
    name: str, attributes: Mapping[str, AttributeValue | None] | None = None
) -> AbstractContextManager[Any]:
    """A child of the current span for the block (a shared no-op while tracing is off)."""
    tracer = _tracer
    if tracer is None:
        return _NOTHING
    clean = {k: v for k, v in (attributes or {}).items() if v is not None}
    return tracer.start_as_current_span(name, attributes=clean)


@contextlib.contextmanager
def request_span(
    method: str, headers: Mapping[str, str], attributes: Mapping[str, AttributeValue]
) -> Iterator[trace.Span]:
    """The server span of one request, continuing the caller's trace when its
    `traceparent` header names one. Only called while tracing is on."""
    assert _tracer is not None
    parent = _propagator.extract(headers)
    with _tracer.start_as_current_span(
        method, context=parent, kind=trace.SpanKind.SERVER, attributes=dict(attributes)
    ) as current:
        yield current


def set_attributes(attributes: Mapping[str, AttributeValue | None]) -> None:
    """Add attributes to the current span (nothing while tracing is off)."""
    if _tracer is None:
        return
    current = trace.get_current_span()
    for key, value in attributes.items():
        if value is not None:
            current.set_attribute(key, value)
