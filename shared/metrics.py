"""The product's metrics: their names, and the Temporal runtime that serves them to Prometheus.

One endpoint serves everything: Temporal's own SDK metrics (schedule-to-start latency, task
slots, pollers, workflow task failures) and the product's, which are recorded with the SDK's
metric meter (``activity.metric_meter()``, ``workflow.metric_meter()``, the runtime's meter for
the worker's gauges). The alert rules (deploy/prometheus/rules.yml), the dashboard
(deploy/grafana/dashboards/tickets.json) and docs/observability.md use these names.

Units, chosen once: Prometheus conventions. Durations are float seconds with a ``_seconds``
suffix, counters end in ``_total`` (``PrometheusConfig`` options ``durations_as_seconds``,
``unit_suffix``, ``counters_total_suffix``; the SDK's defaults would be integer milliseconds and
no suffixes). Money is US dollars, named in the metric (``_usd``).
"""

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Final

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from shared import names
from shared.config_errors import ConfigError

# Names as the code creates them; the Prometheus name (what rules and dashboards query) follows.
# Activity side, one observation per attempt of an agent call:
AGENT_CALL_DURATION: Final = "tickets_agent_call_duration"  # _seconds; agent provider model outcome
PROVIDER_FAILURES: Final = "tickets_provider_failures"  # _total; agent provider model class
# Workflow side, what the ticket (or run) is billed, exactly what `report` adds up:
LLM_TOKENS: Final = "tickets_llm_tokens"  # _total; agent provider model type=input|output|cached
LLM_COST: Final = "tickets_llm_cost_usd"  # histogram of calls, _sum in USD; agent provider model
TRIMMED_TOKENS: Final = "tickets_trimmed_input_tokens"  # _total; agent
TICKETS_FINISHED: Final = "tickets_finished"  # _total; state category sla=met|missed|none
TICKETS_FINISHED_HELP: Final = "Tickets that reached a final state"
# From a ticket's start to its final state (_seconds; state priority), and what its agents cost
# (USD, a histogram of tickets; category): the numbers a support team reads first.
TICKET_RESOLUTION: Final = "tickets_resolution"
TICKET_COST: Final = "tickets_cost_per_ticket_usd"
REVIEW_WAIT: Final = "tickets_review_wait"  # _seconds; action
SLA_ESCALATIONS: Final = "tickets_sla_escalations"  # _total; priority
BUDGET_HANDOFFS: Final = "tickets_budget_handoffs"  # _total
# The API's (api/request_metrics.py), with its Temporal client's own on TICKETS_METRICS_ADDRESS:
API_REQUESTS: Final = "tickets_api_requests"  # _total; route method status
API_REQUEST_DURATION: Final = "tickets_api_request_duration"  # _seconds; route method
# Worker gauges (a level, for alerts that need one):
OPEN_TICKETS: Final = "tickets_open"  # state: running tickets per state, from visibility
REVIEW_OVERDUE: Final = "tickets_review_overdue"  # awaiting review past the SLA deadline
# Running tickets with the agents (NEW to VALIDATED) 15 minutes after they entered the state they
# show (NEW from the start: a ticket publishes no state between agents; RESOLVING from a rework's
# return): a provider queue nobody polls, a provider failing or rate-limiting for long, a stuck
# task.
STALLED_WITH_AGENTS: Final = "tickets_with_agents_past_15m"
# Running tickets in DELIVERING 30 minutes after they entered it: a channel down or refusing for
# now, its answers' retries not getting through. (A count of DELIVERING alone is above zero for
# good on a busy helpdesk whose channel fails a first attempt now and then.)
QUEUED_PAST_30M: Final = "tickets_delivering_past_30m"
SPEND_LIMIT: Final = "tickets_spend_limit_usd_per_hour"  # the configured limit; absent when unset
# The workers the deployment declares (TICKETS_WORKER_REPLICAS); absent when unset.
WORKER_REPLICAS_EXPECTED: Final = "tickets_worker_replicas_expected"
# When the gauges above were last counted (Unix seconds): the alert on them is only as good as
# the count, so a stale or absent one alerts of its own (TicketGaugesStale).
GAUGES_UPDATED: Final = "tickets_gauges_updated_timestamp_seconds"
# 1 while the server sends this worker tasks on its first queue (`queue`), 0 while it does not: a
# build of a Worker Deployment that is not current or ramping, an unversioned worker while a
# build is current (shared/worker_versioning.py). Left as it was when the server cannot say.
WORKER_TAKES_TASKS: Final = "tickets_worker_takes_tasks"
# When the server last answered that question (Unix seconds): a value the server has stopped
# confirming (a probe refused or timing out) is left out of NoWorkerTakesTasks.
ROUTING_CHECKED: Final = "tickets_worker_routing_checked_timestamp_seconds"
# The scheduled payload collection (shared/payload_gc_watch.py): its interval (0: none, or
# paused), and since when it is known to be current (PayloadCollectionOverdue).
PAYLOAD_GC_EVERY: Final = "tickets_payload_gc_every_seconds"
PAYLOAD_GC_CURRENT_SINCE: Final = "tickets_payload_gc_current_since_timestamp_seconds"
# When the server last answered those (Unix seconds; 0 until it has): a watch that keeps failing
# (a permission the credentials lack) would otherwise leave the alert silent for good.
PAYLOAD_GC_CHECKED: Final = "tickets_payload_gc_checked_timestamp_seconds"

# Failure classes of a provider call (the `class` label), from the activity's error type.
FAILURE_CLASSES: Final[Mapping[str, str]] = {
    "ProviderRateLimited": "rate_limited",
    "ProviderTimeout": "timeout",
    "ProviderAnswerOutOfTime": "timeout",
    "ProviderUnavailable": "server_error",
    # An answer that was not the format asked for (retried like a 5xx), and a base URL that
    # answers without streaming (a proxy, a wrong path): were "other", which no runbook covers.
    "ProviderMalformedAnswer": "server_error",
    "ProviderNotStreaming": "bad_request",
    "ProviderOverloaded": "overloaded",
    "ProviderConnectionError": "connection",
    names.INVALID_OUTPUT_ERROR: "invalid_output",
    "ProviderAuthenticationError": "auth",
    "ProviderPermissionDenied": "auth",
    "ProviderQuotaExceeded": "quota",
    "ContextLengthExceeded": "bad_request",
    "ProviderBadRequest": "bad_request",
    "ProviderUnprocessable": "bad_request",
    "ProviderNotFound": "bad_request",
    "ProviderRequestRejected": "bad_request",
    # A 429 no retry can pass (the request is over the key's tokens per minute): a request to
    # change, not a rate to wait out, so it stays out of `rate_limited` and its alert.
    "ProviderRequestTooLarge": "bad_request",
}

# Buckets, in the units above. The SDK's default (0.05 s to 10 s) fits neither a model call
# (up to the attempt timeout: 120 s by default, raised for slow local models, so up to 10
# minutes) nor a person's review (hours to days).
BUCKETS: Final[Mapping[str, Sequence[float]]] = {
    AGENT_CALL_DURATION: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
    REVIEW_WAIT: [60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 72 * 3600, 168 * 3600],
    LLM_COST: [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    TICKET_RESOLUTION: [
        10,
        60,
        300,
        900,
        1800,
        3600,
        4 * 3600,
        8 * 3600,
        24 * 3600,
        72 * 3600,
        168 * 3600,
    ],
    TICKET_COST: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5],
    API_REQUEST_DURATION: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    # The SDK core's own histogram, by the name core gives it (served as temporal_…_seconds;
    # core applies an override to every metric whose name contains the key). Its default
    # buckets (0.1, 0.5, 1, 5, 10, 100, 1000 s) have no bound at the 2 s threshold of
    # WorkflowTaskScheduleToStartHigh: histogram_quantile interpolates inside 1-5 s, so once
    # more than 1.3 % of tasks wait just over 1 s the p99 reads above 2 s and the alert fires.
    "workflow_task_schedule_to_start_latency": [
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1,
        1.5,
        2,
        3,
        5,
        10,
        60,
        300,
    ],
}


# The SDK core's own log lines (its warnings: a slow workflow task, a poll that failed) go to
# this Python logger, formatted as the process's other lines, instead of the core's console
# writer, which colours them with terminal codes that a log file or container log keeps.
CORE_LOGGER = "temporalio.core"


def core_logging() -> LoggingConfig:
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
    )


def forward_core_logs() -> None:
    """The default runtime (a process without metrics) with the core's lines forwarded; called
    at a process's start, before any client is made."""
    runtime = Runtime(telemetry=TelemetryConfig(logging=core_logging()))
    Runtime.set_default(runtime, error_if_already_set=False)


# Where a process (a worker, the API) serves /metrics: host:port; none when unset.
METRICS_ADDRESS_ENV: Final = "TICKETS_METRICS_ADDRESS"


def metrics_runtime_from_env() -> tuple[Runtime | None, str | None]:
    """The process's one Temporal runtime serving /metrics, when TICKETS_METRICS_ADDRESS is set,
    and the address. Made before any client: every client and worker made with it records to
    that endpoint."""
    address = os.environ.get(METRICS_ADDRESS_ENV, "").strip()
    if not address:
        return None, None
    try:
        return prometheus_runtime(address), address
    except Exception as err:  # the runtime reports a bad address or a taken port this way
        raise ConfigError(
            f"{METRICS_ADDRESS_ENV}={address!r}: cannot serve metrics there: {err}"
        ) from None


def prometheus_runtime(bind_address: str) -> Runtime:
    """The process's Temporal runtime, serving /metrics on ``bind_address`` (host:port).

    Made once per process, before any client: every client and worker made with it records to
    the same endpoint."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=core_logging(),
            metrics=PrometheusConfig(
                bind_address=bind_address,
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
                histogram_bucket_overrides=BUCKETS,
            ),
        )
    )


def failure_class(error_type: str | None) -> str:
    return FAILURE_CLASSES.get(error_type or "", "other")
