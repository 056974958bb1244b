"""Spans leave the process without error messages unless content may go into traces.

The Temporal plugin's spans (RunActivity, RunWorkflow, HandleUpdate, ...) set their status to
``"<ErrorType>: <message>"`` and record an ``exception`` event with the message and the stack
trace. An error's message can carry what the ticket holds: an SMTP refusal names the customer's
address, a model's refusal quotes up to 300 characters of its answer, a webhook receiver's
reply is quoted. The history keeps those messages encrypted (the failure converter encodes
them); a trace backend would get them in plain text. So every exporter the process uses is
wrapped: the status keeps the error's type, the ``exception`` event its type only. The API's
server spans (FastAPI's own telemetry) go out without ``url.query``: a query names a ticket, a
filter or whatever a client sends (``?customer=ana@example.com``); and a request that did not
succeed (status 300 or more: refused, or redirected before any check, as the console's sign-in
and a trailing slash are) goes out with its route's template for ``url.path`` (its first
segment when no route matched, and only if it reads as a path's word): a path that did not pass
its route's checks, or matched none, is whatever the client typed (``/tickets/ana@example.com``
was exported, refused 422, and through a 307 or 303 after that was mended). With
TICKETS_TRACE_CONTENT=true (prompts and answers in spans already) spans go out as recorded.
"""

import re
from collections.abc import Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

# What an exception event keeps: its kind, and whether it ended the span.
EXCEPTION_KEPT = frozenset({"exception.type", "exception.escaped"})
# Span attributes that never leave the process: a request's query string.
DROPPED_ATTRIBUTES = frozenset({"url.query"})
PATH, ROUTE, STATUS = "url.path", "http.route", "http.response.status_code"
# Redirects count: FastAPI's trailing-slash redirect (307) comes before any route's checks, and
# the console's sign-in redirect (303) before its token's.
FIRST_UNSUCCESSFUL = 300
# A first segment shown for a path that matched no route: a lower-case word as the API's own
# paths have, not an address, a name or a number someone typed.
PATH_WORD = re.compile(r"[a-z][a-z0-9._-]{0,31}")


def shown_path(path: str, route: str | None) -> str:
    """What the path of a request that did not succeed is shown as: its route's template, or,
    with none matched, its first segment when that reads as a word of a path (``/customers/…``,
    ``/favicon.ico``), else nothing of it (``/…``: ``/ana@example.com``)."""
    if route:
        return route
    first, _, rest = path.lstrip("/").partition("/")
    if not PATH_WORD.fullmatch(first):
        return "/…"
    return f"/{first}/…" if rest else f"/{first}"


def not_succeeded(status: object) -> bool:
    """Whether a response status says the request was refused or sent elsewhere (3xx, 4xx,
    5xx): its path is then whatever the client typed, checked or not."""
    return isinstance(status, int) and status >= FIRST_UNSUCCESSFUL


def _failed_path(attributes: dict[str, object]) -> str | None:
    """The path an unsuccessful request's span shows instead of its own (None: it keeps its
    own)."""
    path, status = attributes.get(PATH), attributes.get(STATUS)
    if not isinstance(path, str) or not not_succeeded(status):
        return None
    route = attributes.get(ROUTE)
    return shown_path(path, route if isinstance(route, str) else None)


def _kind_only(description: str | None) -> str | None:
    return description.split(":", 1)[0].strip() if description else description


def _event_without_message(event: Event) -> Event:
    if event.name != "exception":
        return event
    kept = {k: v for k, v in (event.attributes or {}).items() if k in EXCEPTION_KEPT}
    return Event(event.name, kept, event.timestamp)


def without_messages(span: ReadableSpan) -> ReadableSpan:
    """The span with error messages taken out of its status and exception events, and without
    DROPPED_ATTRIBUTES (the same object when it has none of them)."""
    has_exception = any(e.name == "exception" for e in span.events)
    attributes = dict(span.attributes or {})
    dropped = DROPPED_ATTRIBUTES.intersection(attributes)
    failed_path = _failed_path(attributes)
    if not span.status.description and not has_exception and not dropped and failed_path is None:
        return span
    kept = {k: v for k, v in attributes.items() if k not in dropped}
    if failed_path is not None:
        kept[PATH] = failed_path
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=kept,
        events=[_event_without_message(e) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code, _kind_only(span.status.description)),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class MessageFreeExporter(SpanExporter):
    """Hands ``inner`` every span without its error messages."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([without_messages(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)
