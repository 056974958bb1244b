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
# The batch span processor's settings and its defaults (opentelemetry.sdk.trace.export).
BATCH_SETTINGS: Final = {
    "OTEL_BSP_SCHEDULE_DELAY": 5_000,
    "OTEL_BSP_MAX_QUEUE_SIZE": 2_048,
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 512,
    "OTEL_BSP_EXPORT_TIMEOUT": 30_000,
}
# Past these a value is a typo (and a queue that large holds the spans in memory).
MAX_SETTING: Final = 10_000_000


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
    batch = {}
    for name, default in BATCH_SETTINGS.items():
        text = env.get(name, "").strip()
        if not text:
            batch[name] = default
            continue
        low = 0 if name == "OTEL_BSP_EXPORT_TIMEOUT" else 1
        if not _integer_within(text, low):
            return f"{name} must be a whole number from {low} to {MAX_SETTING:,}; got {text[:20]!r}"
        batch[name] = int(text)
    if batch["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] > batch["OTEL_BSP_MAX_QUEUE_SIZE"]:
        return (
            f"OTEL_BSP_MAX_EXPORT_BATCH_SIZE ({batch['OTEL_BSP_MAX_EXPORT_BATCH_SIZE']}) must not "
            f"be above OTEL_BSP_MAX_QUEUE_SIZE ({batch['OTEL_BSP_MAX_QUEUE_SIZE']}): set both"
        )
    return None


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
