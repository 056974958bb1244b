"""The worker's start-up line on traces: where they go, and whether customer text goes too
(a privacy walk-through found TICKETS_TRACE_CONTENT=true switched on with nothing said)."""

import pytest

from shared.telemetry import describe_tracing

SECRET_ENDPOINT = "https://user:s3cret@collector.example:4318"


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({}, "traces: not exported (set OTEL_EXPORTER_OTLP_ENDPOINT to send them)"),
        ({"OTEL_SDK_DISABLED": "true"}, "traces: off (OTEL_SDK_DISABLED=true)"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": SECRET_ENDPOINT},
            "traces: exported to OTLP (the endpoint in OTEL_EXPORTER_OTLP_*), without prompts, "
            "answers or error messages (TICKETS_TRACE_CONTENT=true adds them)",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": SECRET_ENDPOINT,
                "OTEL_TRACES_EXPORTER": "otlp,console",
                "TICKETS_TRACE_CONTENT": "true",
            },
            "traces: exported to OTLP (the endpoint in OTEL_EXPORTER_OTLP_*) and the console, "
            "WITH prompts, answers and error messages (TICKETS_TRACE_CONTENT=true): customer "
            "text reaches the trace backend",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": SECRET_ENDPOINT, "OTEL_TRACES_EXPORTER": "none"},
            "traces: not exported (set OTEL_EXPORTER_OTLP_ENDPOINT to send them)",
        ),
    ],
)
def test_the_line_says_where_traces_go_and_whether_content_goes_with_them(
    env: dict[str, str], said: str
) -> None:
    assert describe_tracing(env) == said
    assert "s3cret" not in describe_tracing(env)
