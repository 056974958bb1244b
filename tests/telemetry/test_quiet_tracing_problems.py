"""A command's tracing problems (the collector down) reach its stderr once, as one line, instead
of every export retry and failure in the middle of its output (shared/telemetry.py)."""

import logging

import pytest

from shared import telemetry_exit as telemetry
from shared.telemetry_exit import quiet_tracing_problems


def test_only_the_first_tracing_problem_of_a_command_is_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process's later flushes keep their whole wait (other tests export spans).
    monkeypatch.setattr(telemetry._FirstProblemOnly, "seen_in_this_process", False)
    otel = logging.getLogger("opentelemetry")
    handlers, propagate = list(otel.handlers), otel.propagate
    otel.handlers = []  # as a fresh process has them (another test may have run the CLI)
    try:
        quiet_tracing_problems()
        quiet_tracing_problems()  # a second call adds nothing
        exporter = logging.getLogger("opentelemetry.exporter.otlp.common.http")
        exporter.warning("Transient error %s encountered while exporting span batch, retrying", 1)
        exporter.error("Failed to export span batch code: %s, reason:\n%s", 503, "down")
        logging.getLogger("opentelemetry.sdk.trace.export").info("an info line")
    finally:
        otel.handlers, otel.propagate = handlers, propagate

    err = capsys.readouterr().err
    assert err.splitlines() == [
        "warning: traces: Transient error 1 encountered while exporting span batch, retrying "
        "(this command shows no further tracing problems)"
    ]


def test_a_command_whose_exports_failed_waits_a_moment_for_its_spans_not_the_whole_flush(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(telemetry._FirstProblemOnly, "seen_in_this_process", False)
    otel = logging.getLogger("opentelemetry")
    handlers, propagate = list(otel.handlers), otel.propagate
    otel.handlers = []
    try:
        quiet_tracing_problems()
        before = telemetry.flush_timeout(5_000)
        logging.getLogger("opentelemetry.exporter.otlp.common.http").error("Failed to export")
        after = telemetry.flush_timeout(5_000)
    finally:
        otel.handlers, otel.propagate = handlers, propagate

    assert before == 5_000
    assert after == telemetry.FLUSH_AFTER_A_FAILURE_MILLIS
