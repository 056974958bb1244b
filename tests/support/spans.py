"""Collecting the spans this test process makes (through the process's real tracer provider)."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from shared import telemetry


class SpanCollector(SpanProcessor):
    """Keeps every span that ends while it is collecting; added to the provider once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReadableSpan] = []
        self._on = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            if self._on:
                self._spans.append(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    @contextmanager
    def collecting(self) -> Iterator[list[ReadableSpan]]:
        with self._lock:
            self._spans = []
            self._on = True
        try:
            yield self._spans
        finally:
            with self._lock:
                self._on = False

    def spans(self) -> list[ReadableSpan]:
        with self._lock:
            return list(self._spans)


_collector: SpanCollector | None = None


def collector() -> SpanCollector:
    global _collector
    if _collector is None:
        _collector = SpanCollector()
        telemetry.add_span_processor(_collector)
    return _collector


def in_trace(spans: list[ReadableSpan], trace_id: str) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and f"{s.context.trace_id:032x}" == trace_id]


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    return next((s for s in spans if span_id(s) == span.parent.span_id), None)


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    names = []
    current = parent_of(span, spans)
    while current is not None:
        names.append(current.name)
        current = parent_of(current, spans)
    return names


def render_tree(spans: list[ReadableSpan]) -> str:
    """An indented tree of span names with durations, children in start order."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {span_id(s) for s in spans}
    for s in spans:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(s)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for s in sorted(by_parent.get(parent, []), key=lambda x: x.start_time or 0):
            ms = ((s.end_time or 0) - (s.start_time or 0)) / 1e6
            extra = ""
            attrs = s.attributes or {}
            if "gen_ai.usage.input_tokens" in attrs:
                extra = (
                    f"  [{attrs.get('gen_ai.agent.name')} {attrs.get('gen_ai.provider.name')}"
                    f" in={attrs['gen_ai.usage.input_tokens']}"
                    f" out={attrs.get('gen_ai.usage.output_tokens')}]"
                )
            lines.append(f"{'  ' * depth}{s.name} ({ms:.1f} ms){extra}")
            walk(span_id(s), depth + 1)

    walk(None, 0)
    return "\n".join(lines)
