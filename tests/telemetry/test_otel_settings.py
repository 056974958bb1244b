"""The OpenTelemetry variables the SDK reads as it is imported or starts exporting
(shared/otel_env.py), and the headers variable that carries the collector's key
(shared/telemetry.py headers_problem): settled or refused with one sentence, never a traceback,
never a value in the log."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import telemetry
from shared.otel_env import OtelSettingError, otel_setting_problem, settle_otel_env

ROOT = Path(__file__).resolve().parents[2]


def run(module: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | variables
    return subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("module", ["worker", "starter"])
def test_a_propagator_that_is_not_installed_does_not_stop_a_command(module: str) -> None:
    # OTEL_PROPAGATORS=b3 (common in clusters): opentelemetry.propagate raised at import, and
    # every command, --help included, ended in a traceback. The project propagates trace
    # context only, whatever the variable says.
    done = run(module, OTEL_PROPAGATORS="b3,tracecontext")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


EXPORTING = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        (
            {"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "abc"},
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT must be a whole",
        ),
        (
            {"OTEL_BSP_MAX_QUEUE_SIZE": "100", **EXPORTING},
            "must not be above OTEL_BSP_MAX_QUEUE_SIZE (100)",
        ),
    ],
)
def test_a_span_setting_the_sdk_refuses_is_one_sentence_naming_it(
    settings: dict[str, str], said: str
) -> None:
    # The first failed at import, the second when the worker connected, after its checks.
    done = run("worker", **settings)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr


def test_the_settings_the_sdk_would_refuse() -> None:
    assert otel_setting_problem({}) is None
    assert otel_setting_problem({"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "unset"}) is None
    assert otel_setting_problem({"OTEL_SPAN_EVENT_COUNT_LIMIT": " 128 "}) is None
    negative = otel_setting_problem({"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "-5"})
    assert negative is not None and "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT" in negative
    long = otel_setting_problem({"OTEL_SPAN_LINK_COUNT_LIMIT": "x" * 500})
    assert long is not None and "x" * 21 not in long  # a value is quoted short
    # The batch processor's, only where one is made (an exporter), and only what it refuses:
    # a value that is no whole number it takes as its default, saying so.
    assert otel_setting_problem({"OTEL_BSP_SCHEDULE_DELAY": "0", **EXPORTING}) is not None
    assert otel_setting_problem({"OTEL_BSP_SCHEDULE_DELAY": "0"}) is None  # nothing exported
    assert otel_setting_problem({"OTEL_BSP_SCHEDULE_DELAY": "5s", **EXPORTING}) is None
    off = {"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_TRACES_EXPORTER": "none", **EXPORTING}
    assert otel_setting_problem(off) is None
    both = {"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "50"}
    assert otel_setting_problem({**both, **EXPORTING}) is None

    env = {"OTEL_PROPAGATORS": "b3", "OTEL_SPAN_LINK_COUNT_LIMIT": "8"}
    settle_otel_env(env)
    assert env["OTEL_PROPAGATORS"] == "tracecontext"
    with pytest.raises(OtelSettingError, match="OTEL_SPAN_LINK_COUNT_LIMIT"):
        settle_otel_env({"OTEL_SPAN_LINK_COUNT_LIMIT": "many"})


def test_a_headers_value_the_exporter_cannot_parse_is_refused_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The exporter logged the whole header it could not parse: a quoted API key, as written in
    # a shell or a compose file, went to the worker's log.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", 'x-honeycomb-team="hcaik_SECRET",a=b')
    caplog.set_level(logging.WARNING)

    with pytest.raises(telemetry.TelemetryConfigError) as refused:
        telemetry.span_exporter_from_env()

    assert "OTEL_EXPORTER_OTLP_HEADERS: header 1 is not name=value" in str(refused.value)
    assert "hcaik_SECRET" not in str(refused.value)
    assert "hcaik_SECRET" not in caplog.text
    # Headers the exporter takes pass: URL-encoded, or plain with spaces.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-key=hcaik_SECRET, Authorization=Basic%20x")
    assert telemetry.span_exporter_from_env() is not None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=Bearer abc")
    assert telemetry.headers_problem(os.environ) is None


def test_an_exporter_setting_it_cannot_use_is_one_sentence_naming_it(tmp_path: Path) -> None:
    # A credential provider that is not installed: the exporter raised RuntimeError from the
    # worker's own check, which caught only the project's errors: a traceback and exit 1.
    from tests.support.processes import worker_run_to_its_end

    done = worker_run_to_its_end(
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318",
        OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER="not-installed",
    )
    assert done.returncode == 2, done.stderr
    assert "the OTLP exporter refuses its OTEL_* settings: RuntimeError" in done.stderr
    assert "Traceback" not in done.stderr
