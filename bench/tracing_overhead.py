"""What tracing costs a process that exports nothing (no OTEL_EXPORTER_OTLP_ENDPOINT set).

    python -m bench tracing_overhead [--spans N]

Every client carries the tracing plugin, so spans are made even where nothing is exported (a
trace the CLI starts must continue in a worker that exports). This times one span shaped like an
agent call's (name, the GenAI attributes, usage set at the end) on the process's real tracer
provider with no exporter, against the same code on OpenTelemetry's no-op tracer, the two
alternating run by run. Median of 5 runs of N spans each, and their ratio.
"""

import argparse
import statistics
import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared import telemetry

ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4.1-mini",
    "gen_ai.agent.name": "classifier",
    "tickets.provider": "openai",
    "tickets.attempt": 1,
    "temporal.workflow_id": "ticket-T-1",
    "temporal.activity_type": "classify_ticket",
    "tickets.ticket_id": "T-1",
}
USAGE = {
    "gen_ai.response.model": "gpt-4.1-mini",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
    "gen_ai.usage.cache_read.input_tokens": 0,
    "tickets.cost_usd": 0.000072,
}


def per_span_us(tracer: trace.Tracer, spans: int) -> float:
    started = time.perf_counter()
    for _ in range(spans):
        with tracer.start_as_current_span(
            "chat gpt-4.1-mini", kind=SpanKind.CLIENT, attributes=ATTRIBUTES
        ) as span:
            span.set_attributes(USAGE)
    return (time.perf_counter() - started) / spans * 1e6


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench tracing_overhead")
    parser.add_argument("--spans", type=int, default=20_000)
    args = parser.parse_args(argv)
    if telemetry.span_exporter_from_env() is not None:
        print("unset OTEL_EXPORTER_OTLP_ENDPOINT: this measures a process that exports nothing")
        return 2
    real = telemetry.tracer_provider().get_tracer("bench")
    noop = trace.NoOpTracer()
    reals, noops = [], []
    for run in range(5):  # alternating: a slower spell of the machine falls on both
        # Each first in turn (a review, 2026-12-07: the real one always ran first).
        if run % 2:
            noops.append(per_span_us(noop, args.spans))
        reals.append(per_span_us(real, args.spans))
        if not run % 2:
            noops.append(per_span_us(noop, args.spans))
    real_us, noop_us = statistics.median(reals), statistics.median(noops)
    ratios = sorted(r / n for r, n in zip(reals, noops, strict=True))
    print(
        f"one agent-call span, no exporter: {real_us:.1f} µs; no-op tracer: {noop_us:.1f} µs; "
        f"real ÷ no-op {real_us / noop_us:.1f} (runs {ratios[0]:.1f}-{ratios[-1]:.1f}); "
        f"{args.spans} spans x 5 runs each, alternating, medians"
    )
    return 0
