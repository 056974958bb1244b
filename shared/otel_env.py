"""The OpenTelemetry variables the SDK reads as its modules are imported, settled before any of
them is: run by the project's entry points right after ``require_project_python``. Standard
library only.

- ``OTEL_PROPAGATORS``: ``opentelemetry.propagate`` builds the propagators it names when first
  imported and raises on one that is not installed (``b3``, ``jaeger``: common in clusters), so
  every command, ``--help`` included, ended in a traceback. The project propagates trace context
  only, whatever the variable says (``shared.telemetry.tracer_provider``: W3C baggage is a
  caller's free text), so the process reads it as ``tracecontext``.
- The span limits (``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT``, ...) are read when
  ``opentelemetry.sdk.trace`` is imported, the batch processor's (``OTEL_BSP_*``) when a process
  exports: a value the SDK refuses ended every command in a traceback, and a worker after its
  start-up checks had passed. Here it is one sentence naming the variable, before anything runs.
"""

import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Final

PROPAGATORS_VARIABLE: Final = "OTEL_PROPAGATORS"
PROPAGATORS_USED: Final = "tracecontext"

# Non-negative integers, or "unset" (no limit): opentelemetry.sdk.trace.SpanLimits.
SPAN_LIMITS: Final = (
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
)
# The batch span processor's settings it checks, and their defaults (opentelemetry.sdk.trace.
# export): a value that is no whole number it takes as the default, saying so; one of 0 or less,
# or a batch larger than the queue, it refuses with a ValueError.
BATCH_SETTINGS: Final = {
    "OTEL_BSP_SCHEDULE_DELAY": 5_000,
    "OTEL_BSP_MAX_QUEUE_SIZE": 2_048,
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 512,
}
# Past these a value is a typo (and a queue that large holds the spans in memory).
MAX_SETTING: Final = 10_000_000


# Where traces go over OTLP: either names an endpoint (the traces' one is used as it is).
OTLP_TRACE_ENDPOINTS: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def exporter_kinds(env: Mapping[str, str]) -> list[str]:
    """OTEL_TRACES_EXPORTER's list (``otlp,console``), in order, once each; ``otlp`` when it
    names none."""
    kinds = [k.strip().lower() for k in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    return list(dict.fromkeys(k for k in kinds if k)) or ["otlp"]


class OtelSettingError(Exception):
    """An OpenTelemetry variable the SDK would refuse; the message names it."""


def otel_setting_problem(env: Mapping[str, str]) -> str | None:
    """What is wrong with the variables the SDK reads as it is imported or starts exporting
    (None: nothing). Never quotes more of a value than 20 characters."""
    for name in SPAN_LIMITS:
        if name not in env:
            continue
        text = env[name].strip().lower()
        if text == "unset":
            continue
        if not _integer_within(text, 0):
            return (
                f"{name} must be a whole number from 0 to {MAX_SETTING:,}, or unset; "
                f"got {text[:20]!r}"
            )
    if not _exports(env):
        return None  # no batch processor is made: the SDK reads none of its settings
    batch = {}
    for name, default in BATCH_SETTINGS.items():
        try:
            batch[name] = int(env.get(name, "").strip() or default)
        except ValueError:
            batch[name] = default  # what the SDK does: it says so and takes its default
    for name, value in batch.items():
        if value <= 0:  # the batch processor refuses these (ValueError)
            return f"{name} must be above 0; got {value}"
    if batch["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] > batch["OTEL_BSP_MAX_QUEUE_SIZE"]:
        return (
            f"OTEL_BSP_MAX_EXPORT_BATCH_SIZE ({batch['OTEL_BSP_MAX_EXPORT_BATCH_SIZE']}) must not "
            f"be above OTEL_BSP_MAX_QUEUE_SIZE ({batch['OTEL_BSP_MAX_QUEUE_SIZE']}): set both"
        )
    return None


def _exports(env: Mapping[str, str]) -> bool:
    """Whether this process makes a batch span processor (shared/telemetry.py): tracing on, and
    an OTLP endpoint or the console to export to."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    kinds = exporter_kinds(env)
    endpoint = any(env.get(name) for name in OTLP_TRACE_ENDPOINTS)
    return "none" not in kinds and ("console" in kinds or (endpoint and "otlp" in kinds))


def _integer_within(text: str, low: int) -> bool:
    try:
        value = int(text)
    except ValueError:
        return False
    return low <= value <= MAX_SETTING


def settle_otel_env(env: MutableMapping[str, str] | None = None) -> None:
    """Reads OTEL_PROPAGATORS as the project uses it, and raises OtelSettingError for a
    variable the SDK would refuse."""
    env = os.environ if env is None else env
    if env.get(PROPAGATORS_VARIABLE, PROPAGATORS_USED) != PROPAGATORS_USED:
        env[PROPAGATORS_VARIABLE] = PROPAGATORS_USED
    problem = otel_setting_problem(env)
    if problem is not None:
        raise OtelSettingError(problem)


def require_usable_otel_env(command: str) -> None:
    """Exit 2 with one sentence when an OpenTelemetry variable would fail the process."""
    try:
        settle_otel_env()
    except OtelSettingError as err:
        sys.stderr.write(f"error: {err} (python -m {command} reads it for its traces)\n")
        raise SystemExit(2) from None
