"""Telemetry settings: what the OTEL_ and TICKETS_ variables ask for, and clear refusals."""

import socket

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

import worker
from shared import metrics, names, settings, telemetry
from shared.otel_env import OTLP_TRACE_ENDPOINTS
from shared.worker_gauges import (
    ReplicasError,
    SpendLimitError,
    replicas_from_env,
    spend_limit_from_env,
)


def test_no_endpoint_means_no_export_not_localhost() -> None:
    assert telemetry.span_exporter_from_env({}) is None
    assert telemetry.span_exporter_from_env({"OTEL_SERVICE_NAME": "x"}) is None


def test_an_endpoint_exports_over_otlp_http_to_its_traces_path() -> None:
    exporter = telemetry.span_exporter_from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    )
    assert isinstance(exporter, OTLPSpanExporter)
    assert telemetry.span_exporter_from_env(
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}
    )
    assert (
        telemetry.span_exporter_from_env(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}
        )
        is None
    )


def test_the_export_timeout_is_read_in_milliseconds_as_the_spec_says() -> None:
    # The exporter read it as seconds: 10000, meant as 10 s, was hours for a hung collector.
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    given = telemetry.span_exporter_from_env(endpoint | {"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"})
    both = {"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "500"}
    traces = telemetry.span_exporter_from_env(endpoint | both)
    default = telemetry.span_exporter_from_env(endpoint)
    assert isinstance(given, OTLPSpanExporter) and given._client._timeout == 2.5
    assert isinstance(traces, OTLPSpanExporter) and traces._client._timeout == 0.5
    assert isinstance(default, OTLPSpanExporter) and default._client._timeout == 10.0
    for bad in ("ten", "0", "-5", "nan"):
        with pytest.raises(telemetry.TelemetryConfigError, match="give milliseconds"):
            telemetry.span_exporter_from_env(endpoint | {"OTEL_EXPORTER_OTLP_TIMEOUT": bad})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL='grpc'",
        ),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER='zipkin'"),
        # Accepted before: the exporter then failed every few seconds and dropped the spans.
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "notaurl"},
            "OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL with a host",
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:99999/v1/traces"},
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT has a port that is not a number",
        ),
    ],
)
def test_what_cannot_be_honoured_is_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(telemetry.TelemetryConfigError, match=named):
        telemetry.span_exporter_from_env(env)


@pytest.mark.parametrize("name", OTLP_TRACE_ENDPOINTS)
@pytest.mark.parametrize(
    "query",
    [
        "?api_key=SECRET123",
        "?tenant=a&Access-Token=SECRET123",
        "?sig=SECRET123",
        # With a vendor's prefix (a review, 2026-12-07: these passed and were logged).
        "?x-api-key=SECRET123",
        "?dd-api-key=SECRET123",
        "?private_token=SECRET123",
        "?access_key=SECRET123",
        "?api-token=SECRET123",
    ],
)
def test_an_endpoint_with_a_credential_in_its_query_is_refused_without_echoing_it(
    name: str, query: str
) -> None:
    # The exporter logs the path and query of every failed export ("Max retries exceeded with
    # url: /v1/traces?api_key=..."): the key reached the worker's log and a command's stderr.
    with pytest.raises(telemetry.TelemetryConfigError) as refused:
        telemetry.span_exporter_from_env({name: f"http://collector:4318/v1/traces{query}"})

    said = str(refused.value)
    assert said.startswith(f"{name} carries a credential in its query")
    assert "OTEL_EXPORTER_OTLP_HEADERS" in said
    assert "SECRET123" not in said
    # A query without one is the collector's business, names that merely hold such words too.
    for query in ("?tenant=a", "?signal=traces&routing_key=x", "?session_name=a"):
        plain = telemetry.span_exporter_from_env({name: f"http://collector:4318/v1/traces{query}"})
        assert plain is not None, query


def test_prompt_content_stays_out_of_spans_unless_asked() -> None:
    assert not telemetry.trace_content({})
    assert not telemetry.trace_content({telemetry.TRACE_CONTENT_ENV: "yes please"})
    assert telemetry.trace_content({telemetry.TRACE_CONTENT_ENV: "true"})


def test_trace_content_is_true_or_false_and_anything_else_is_refused() -> None:
    """ "maybe" was read as false without a word."""
    for fine in ("", "true", "False", " TRUE "):
        telemetry.check_trace_content({telemetry.TRACE_CONTENT_ENV: fine})
    with pytest.raises(telemetry.TelemetryConfigError, match="must be true or false, got 'maybe'"):
        telemetry.check_trace_content({telemetry.TRACE_CONTENT_ENV: "maybe"})


def test_tracing_can_be_switched_off_entirely() -> None:
    assert telemetry.client_plugins({"OTEL_SDK_DISABLED": "true"}) == []
    assert len(telemetry.client_plugins({})) == 1


def test_a_link_needs_both_ids_and_valid_hex() -> None:
    assert telemetry.span_context(None, "00f067aa0ba902b7") is None
    assert telemetry.span_context("zz", "00f067aa0ba902b7") is None
    context = telemetry.span_context("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert context is not None and context.is_remote and context.span_id == 0x00F067AA0BA902B7


@pytest.mark.parametrize(
    ("raw", "problem"), [("lots", "not a number"), ("-1", "positive"), ("nan", "positive")]
)
def test_a_bad_spend_limit_names_the_variable(raw: str, problem: str) -> None:
    with pytest.raises(SpendLimitError, match=f"TICKETS_SPEND_LIMIT_USD_PER_HOUR.*{problem}"):
        spend_limit_from_env({"TICKETS_SPEND_LIMIT_USD_PER_HOUR": raw})


def test_the_spend_limit_is_optional() -> None:
    assert spend_limit_from_env({}) is None
    assert spend_limit_from_env({"TICKETS_SPEND_LIMIT_USD_PER_HOUR": " 12.5 "}) == 12.5


def test_provider_errors_map_to_failure_classes() -> None:
    assert metrics.failure_class("ProviderRateLimited") == "rate_limited"
    assert metrics.failure_class(names.INVALID_OUTPUT_ERROR) == "invalid_output"
    assert metrics.failure_class("ProviderAuthenticationError") == "auth"
    assert metrics.failure_class("ProviderUnavailable") == "server_error"
    # A 429 no retry passes: a request to change, not a rate limit.
    assert metrics.failure_class("ProviderRequestTooLarge") == "bad_request"
    assert metrics.failure_class("SomethingNew") == metrics.failure_class(None) == "other"


def test_a_worker_metrics_address_that_cannot_be_served_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(metrics.METRICS_ADDRESS_ENV, "not-an-address")
    with pytest.raises(settings.ConfigError, match="TICKETS_METRICS_ADDRESS='not-an-address'"):
        worker.metrics_runtime()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        monkeypatch.setenv(metrics.METRICS_ADDRESS_ENV, f"127.0.0.1:{taken.getsockname()[1]}")
        with pytest.raises(settings.ConfigError, match="in use"):
            worker.metrics_runtime()
    monkeypatch.delenv(metrics.METRICS_ADDRESS_ENV)
    assert worker.metrics_runtime() == (None, None)


def test_several_exporters_may_be_listed_as_the_specification_allows() -> None:
    both = telemetry.span_exporter_from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "otlp, console"}
    )
    console_only = telemetry.span_exporter_from_env({"OTEL_TRACES_EXPORTER": "otlp,console"})

    assert [type(e).__name__ for e in both.exporters] == [  # type: ignore[union-attr]
        "OTLPSpanExporter",
        "ConsoleSpanExporter",
    ]
    assert type(console_only).__name__ == "ConsoleSpanExporter"  # no endpoint: no OTLP
    with pytest.raises(telemetry.TelemetryConfigError, match="'zipkin'"):
        telemetry.span_exporter_from_env({"OTEL_TRACES_EXPORTER": "otlp,zipkin"})


def test_a_service_named_in_the_resource_attributes_keeps_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=helpdesk-eu, team=support")
    named = telemetry.resource()
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=support")
    unnamed = telemetry.resource()

    assert named.attributes["service.name"] == "helpdesk-eu"
    assert unnamed.attributes["service.name"] == telemetry.DEFAULT_SERVICE_NAME
    assert unnamed.attributes["team"] == "support"


def test_tracing_switched_off_ignores_the_other_tracing_settings() -> None:
    # The worker refused to start over a protocol it would never use, and the API built an
    # exporter (and failed on its queue size) for tracing switched off.
    off = {
        "OTEL_SDK_DISABLED": "TRUE",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_TRACES_EXPORTER": "zipkin",
    }
    assert telemetry.span_exporter_from_env(off) is None
    assert telemetry.describe_tracing(off) == "traces: off (OTEL_SDK_DISABLED=true)"


@pytest.mark.parametrize("raw", ["three", "0", "-2", "2.5", "1001", "²"])
def test_a_bad_worker_count_names_the_variable(raw: str) -> None:
    with pytest.raises(ReplicasError, match=r"TICKETS_WORKER_REPLICAS=.* from 1 to 1,000"):
        replicas_from_env({"TICKETS_WORKER_REPLICAS": raw})


def test_the_worker_count_is_optional() -> None:
    assert (
        replicas_from_env({}) is None
        and replicas_from_env({"TICKETS_WORKER_REPLICAS": " "}) is None
    )
    assert replicas_from_env({"TICKETS_WORKER_REPLICAS": " 3 "}) == 3
