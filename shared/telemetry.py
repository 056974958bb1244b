"""Tracing for every process: the OpenTelemetry tracer provider and the SDK's tracing plugin.

``shared.temporal_client.connect`` puts ``client_plugins()`` on every client, so the worker, the
CLI, the API and the tests trace the same way: a client span where a workflow is started, the
workflow's own span for its whole life, and a span for each activity and child workflow under it,
all carried across processes in Temporal headers. The agent activities add one GenAI span per
provider call (``activities.agent_telemetry``).

Why ``OpenTelemetryPlugin`` (experimental) and not the older ``TracingInterceptor``: see
docs/observability.md. In short, workflow spans get real durations and are real parents, span ids
made inside a workflow come from the workflow's seeded random (the same on replay), and a span
ended while a history is replayed is dropped, so a replay emits nothing.

Spans are exported over OTLP/HTTP when the standard variables say where
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; also
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_HEADERS``, ...). With
none set, spans are still made, so a trace started here continues in a process that does export,
but nothing leaves the process. ``OTEL_SDK_DISABLED=true`` turns tracing off entirely.
"""

import logging
import math
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Final

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    default_getter,
    default_setter,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState
from temporalio.contrib.opentelemetry import (
    OpenTelemetryPlugin,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)

from shared.http_urls import http_url_problem
from shared.otel_env import OTLP_TRACE_ENDPOINTS, exporter_kinds
from shared.redaction import credential_parameters
from shared.span_privacy import MessageFreeExporter

# What a span reports as the service when OTEL_SERVICE_NAME is not set.
DEFAULT_SERVICE_NAME: Final = "ticket-agents"
TRACER_NAME: Final = "ticket-agents"
# Prompts and answers stay out of spans unless this is "true": they hold customer text.
TRACE_CONTENT_ENV: Final = "TICKETS_TRACE_CONTENT"
# At most this much of a prompt or an answer goes into a span when content tracing is on.
MAX_CONTENT_CHARS: Final = 4_000

_lock = threading.Lock()
_provider: ReplaySafeTracerProvider | None = None


class _EvictionDetachNoise(logging.Filter):
    """Drops OpenTelemetry's "Failed to detach context" for evicted workflows.

    When the worker evicts a cached workflow (cache full, worker stopping) the SDK closes its
    coroutine; the workflow span's ``use_span`` then detaches its context in another
    ``contextvars.Context`` and OpenTelemetry logs an error with a traceback, though nothing is
    wrong (the SDK's own ``_context.attached_context`` explains the case). Only that record is
    dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Failed to detach context"


class TelemetryConfigError(ValueError):
    """A tracing variable asks for something this product cannot do; the message names it."""


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def tracing_disabled(env: Mapping[str, str] | None = None) -> bool:
    return _env(env).get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def trace_content(env: Mapping[str, str] | None = None) -> bool:
    """Whether prompts and answers may go into spans (off unless TICKETS_TRACE_CONTENT=true)."""
    return _trace_content_value(env) == "true"


def _trace_content_value(env: Mapping[str, str] | None) -> str:
    return _env(env).get(TRACE_CONTENT_ENV, "").strip().lower()


def check_trace_content(env: Mapping[str, str] | None = None) -> None:
    """TICKETS_TRACE_CONTENT is true, false or unset: "maybe" read as false without a word."""
    raw = _trace_content_value(env)
    if raw not in ("", "true", "false"):
        raise TelemetryConfigError(f"{TRACE_CONTENT_ENV} must be true or false, got {raw[:20]!r}")


def span_exporter_from_env(env: Mapping[str, str] | None = None) -> SpanExporter | None:
    """The exporter the standard variables ask for, or None when they name no destination.
    ``OTEL_TRACES_EXPORTER`` may list several (``otlp,console``), as the specification allows.

    Unlike the OpenTelemetry default, no endpoint means no export (not localhost:4318): a worker
    started without configuration must not try to reach a collector that is not there. None with
    ``OTEL_SDK_DISABLED=true``, whatever the others say: a setting of tracing switched off
    stopped the worker (exit 2), and made the API build an exporter and its thread."""
    env = _env(env)
    if tracing_disabled(env):
        return None
    kinds = exporter_kinds(env)
    unknown = [k for k in kinds if k not in ("otlp", "console", "none")]
    if unknown:
        raise TelemetryConfigError(
            f"OTEL_TRACES_EXPORTER={unknown[0]!r} is not supported: use otlp, console or none"
        )
    exporters = [e for e in (_exporter(kind, env) for kind in kinds) if e is not None]
    if not exporters or "none" in kinds:
        return None
    return exporters[0] if len(exporters) == 1 else _EveryExporter(exporters)


def describe_tracing(env: Mapping[str, str] | None = None) -> str:
    """The worker's start-up line on traces: where they go and whether customer text goes with
    them (never the endpoint itself, which may carry credentials). As
    ``span_exporter_from_env`` decides, which has checked the variables by then."""
    env = _env(env)
    if tracing_disabled(env):
        return "traces: off (OTEL_SDK_DISABLED=true)"
    kinds = exporter_kinds(env)
    to = []
    if "otlp" in kinds and any(env.get(name) for name in OTLP_TRACE_ENDPOINTS):
        to.append("OTLP (the endpoint in OTEL_EXPORTER_OTLP_*)")
    if "console" in kinds:
        to.append("the console")
    if not to or "none" in kinds:
        return "traces: not exported (set OTEL_EXPORTER_OTLP_ENDPOINT to send them)"
    content = (
        "WITH prompts, answers and error messages (TICKETS_TRACE_CONTENT=true): customer text "
        "reaches the trace backend"
        if trace_content(env)
        else "without prompts, answers or error messages (TICKETS_TRACE_CONTENT=true adds them)"
    )
    return f"traces: exported to {' and '.join(to)}, {content}"


OTLP_TIMEOUTS: Final = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
# What an export may take where neither variable says (the spec's default, 10 s).
DEFAULT_EXPORT_TIMEOUT_SECONDS: Final = 10.0


def _export_timeout(env: Mapping[str, str]) -> float:
    """The export's timeout in seconds, from the first of OTLP_TIMEOUTS that is set, read in
    milliseconds as the OpenTelemetry spec says. The exporter read it as seconds: 10000, meant
    as 10 s, let an export to a collector that accepted and hung block the export thread for
    hours, the queue full and every later span dropped (a review, 2026-12-08)."""
    for name in OTLP_TIMEOUTS:
        text = (env.get(name) or "").strip()
        if not text:
            continue
        try:
            millis = float(text)
        except ValueError:
            millis = math.nan
        if not math.isfinite(millis) or millis <= 0:
            raise TelemetryConfigError(
                f"{name}={text[:40]!r} is not a timeout: give milliseconds, more than 0 (the "
                "OpenTelemetry spec's unit; 10000 is 10 s)"
            )
        return millis / 1000
    return DEFAULT_EXPORT_TIMEOUT_SECONDS


def _exporter(kind: str, env: Mapping[str, str]) -> SpanExporter | None:
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter()
    if not any(env.get(name) for name in OTLP_TRACE_ENDPOINTS):
        return None
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol != "http/protobuf":
        raise TelemetryConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: traces are sent as "
            "http/protobuf (a collector's port 4318)"
        )
    for name in OTLP_TRACE_ENDPOINTS:
        if (value := env.get(name)) and (problem := http_url_problem(value, credentials=True)):
            # The exporter would log a failed export every few seconds, the spans dropped.
            raise TelemetryConfigError(f"{name} {problem}")
        if value and (secret := credential_parameters(value)):
            # The exporter logs the request's path and query with every failed export (a
            # collector down: every few seconds, in the worker's log and a command's stderr).
            raise TelemetryConfigError(
                f"{name} carries a credential in its query ({secret[0][:40]!r}), which the "
                "OTLP exporter writes to the log with every failed export: send it as a "
                "header instead (OTEL_EXPORTER_OTLP_HEADERS, for example 'api-key=...')"
            )
    if (problem := headers_problem(env)) is not None:
        raise TelemetryConfigError(problem)
    # Imported here: the exporter pulls in requests and protobuf code only a process that
    # exports needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    timeout = _export_timeout(env)
    try:
        # It reads the endpoint, headers and compression itself; the timeout it would read as
        # seconds (opentelemetry-python #4044), so it is given here, read as the spec says.
        return OTLPSpanExporter(timeout=timeout)
    except (RuntimeError, ValueError) as err:
        # A setting it cannot use (a credential provider that is not installed, a bad
        # timeout): one sentence, not the worker's traceback. Its own words, cut short.
        said = " ".join(str(err).split())[:200]
        raise TelemetryConfigError(
            f"the OTLP exporter refuses its OTEL_* settings: {type(err).__name__}: {said}"
        ) from None


# One header of OTEL_EXPORTER_OTLP_*HEADERS as the OTLP exporter takes it (its liberal form:
# name=value, the value URL-encoded or printable ASCII without quotes, commas, semicolons or
# backslashes; the OTLP exporter specification's "Specifying headers via environment variables").
_HEADER_NAME = r"[\x21\x23-\x27\x2a\x2b\x2d\x2e\x30-\x39\x41-\x5a\x5e-\x7a\x7c\x7e]+"
_HEADER_ENTRY = re.compile(
    rf"[ \t]*+{_HEADER_NAME}[ \t]*+=[ \t]*+[\x20\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*+[ \t]*+"
)
_HEADER_DELIMITER = re.compile(r"[ \t]*,[ \t]*")


def headers_problem(env: Mapping[str, str]) -> str | None:
    """What is wrong with the headers variable the exporter reads, never quoting a value. The
    exporter logs a header it cannot parse whole, and these carry the collector's API key
    (``x-honeycomb-team="..."``, quoted as in a shell or a compose file, went to the log)."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"):
        text = env.get(name)
        if not text:
            continue
        for place, entry in enumerate(_HEADER_DELIMITER.split(text), 1):
            if entry.strip() and not _HEADER_ENTRY.fullmatch(entry.strip()):
                return (
                    f"{name}: header {place} is not name=value with a URL-encoded value (quotes, "
                    "commas, semicolons and backslashes %-encoded); its value is not shown"
                )
        return None  # the exporter reads the first of the two that is set
    return None


class _EveryExporter(SpanExporter):
    """Several exporters (``OTEL_TRACES_EXPORTER=otlp,console``): each gets every span."""

    def __init__(self, exporters: list[SpanExporter]) -> None:
        self.exporters = exporters

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        results = [e.export(spans) for e in self.exporters]
        ok = all(r is SpanExportResult.SUCCESS for r in results)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        for exporter in self.exporters:
            exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all([e.force_flush(timeout_millis) for e in self.exporters])


def resource(env: Mapping[str, str] | None = None) -> Resource:
    """The process's resource: what OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME say (read by
    the OpenTelemetry SDK from the process's environment), with our service name only where
    neither names the service."""
    env = _env(env)
    named = env.get("OTEL_SERVICE_NAME") or any(
        pair.split("=", 1)[0].strip() == SERVICE_NAME
        for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
    )
    return Resource.create({} if named else {SERVICE_NAME: DEFAULT_SERVICE_NAME})


def tracer_provider(env: Mapping[str, str] | None = None) -> ReplaySafeTracerProvider:
    """The process's tracer provider, made once and set as the global one.

    It is the SDK's replay-safe provider (``create_tracer_provider``): the plugin refuses to
    run workflows without it. A span processor with a batch exporter is added when the
    environment names a destination; the batch processor exports from its own thread, so a span
    never waits for the network."""
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        env = _env(env)
        provider = create_tracer_provider(resource=resource(env))
        try:
            exporter = span_exporter_from_env(env)
        except TelemetryConfigError as err:
            # The worker checks this at start and refuses to run; any other process (the CLI,
            # the API) carries on without exporting rather than failing its user's command.
            print(f"warning: traces are not exported: {err}", file=sys.stderr)
            exporter = None
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(private_exporter(exporter, env)))
        trace.set_tracer_provider(provider)
        # Trace context only, whatever OTEL_PROPAGATORS says: W3C baggage is a caller's free
        # text (user ids, e-mail addresses), and what the process reads goes into every
        # workflow's unencrypted ``_tracer-data`` header and on to the model providers. So is
        # ``tracestate``: ids and flags only (TraceParentOnly).
        propagate.set_global_textmap(TraceParentOnly())
        logging.getLogger("opentelemetry.context").addFilter(_EvictionDetachNoise())
        if trace.get_tracer_provider() is not provider:
            # Somebody set a provider before us: the plugin would refuse to run workflows.
            print(
                "warning: a tracer provider was already set in this process; ticket traces "
                "use their own",
                file=sys.stderr,
            )
        _provider = provider
        return provider


def private_exporter(exporter: SpanExporter, env: Mapping[str, str] | None = None) -> SpanExporter:
    """``exporter`` behind the filter that takes error messages out of spans
    (shared/span_privacy.py), unless TICKETS_TRACE_CONTENT allows content in traces."""
    return exporter if trace_content(env) else MessageFreeExporter(exporter)


def add_span_processor(processor: SpanProcessor) -> None:
    """Send this process's spans to one more processor (tests collect spans this way)."""
    tracer_provider().add_span_processor(processor)


def client_plugins(env: Mapping[str, str] | None = None) -> list[OpenTelemetryPlugin]:
    """The plugins every Temporal client gets (none when OTEL_SDK_DISABLED=true)."""
    if tracing_disabled(env):
        return []
    tracer_provider(env)
    return [OpenTelemetryPlugin(add_temporal_spans=True)]


def current_provider() -> ReplaySafeTracerProvider | None:
    """This process's tracer provider, once ``tracer_provider`` made it (telemetry_exit.py)."""
    return _provider


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def span_context(trace_id: str | None, span_id: str | None) -> SpanContext | None:
    """A remote span context from the hex ids kept in a ticket's view, or None."""
    if not trace_id or not span_id:
        return None
    try:
        context = SpanContext(
            trace_id=int(trace_id, 16),
            span_id=int(span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    except ValueError:
        return None
    return context if context.is_valid else None


@contextmanager
def linked_span(
    name: str,
    trace_id: str | None,
    span_id: str | None,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span]:
    """A span linked to a ticket's trace, not in it: what a person does days later (a review) is
    related to the ticket's processing, not part of it. It joins the caller's own trace when
    there is one (the API's HTTP request span: the request's status and the review it made are
    one trace), and is a root otherwise (the CLI)."""
    links = [Link(c)] if (c := span_context(trace_id, span_id)) is not None else []
    if tracing_disabled():
        yield NonRecordingSpan(SpanContext(0, 0, False))
        return
    tracer_provider()
    with tracer().start_as_current_span(
        name,
        links=links,
        attributes=dict(attributes or {}),
    ) as span:
        yield span


def hex_ids(span_context_: SpanContext) -> tuple[str, str] | None:
    if not span_context_.is_valid:
        return None
    return format(span_context_.trace_id, "032x"), format(span_context_.span_id, "016x")


class TraceParentOnly(TraceContextTextMapPropagator):
    """W3C trace context with its ids and flags only: a caller's ``tracestate`` (vendors' free
    text: ``customer=ana@example.com`` is a valid entry) is dropped when read, so no span of
    this process carries it into a workflow's unencrypted ``_tracer-data`` header or on to a
    model provider; and none is written, so a ``tracestate`` a span inherited another way (a
    workflow started by another service's client, whose header the Temporal plugin reads with
    its own propagator) does not reach a provider either."""

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        super().inject(carrier, _without_trace_state(context), setter)

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        extracted = super().extract(carrier, context, getter)
        return _without_trace_state(extracted) or extracted


def _without_trace_state(context: Context | None) -> Context | None:
    """``context`` with its current span's ``tracestate`` emptied (the same context when it has
    none)."""
    found = trace.get_current_span(context).get_span_context()
    if not found.is_valid or not found.trace_state:
        return context
    bare = SpanContext(
        found.trace_id,
        found.span_id,
        is_remote=found.is_remote,
        trace_flags=found.trace_flags,
        trace_state=TraceState(),
    )
    return trace.set_span_in_context(NonRecordingSpan(bare), context)
