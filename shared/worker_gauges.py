"""Gauges the worker sets for alerts that need a level, not a rate.

Counters say what happened; "how many tickets wait for a person past their SLA right now" is a
level. A small loop in the worker process asks Temporal's visibility store (``count_workflows``
on the ticket search attributes) every ``interval`` and sets:

- ``tickets_review_overdue``: running tickets in AWAITING_REVIEW whose SLA passed
  (``TicketEscalated = true``);
- ``tickets_open{state}``: running tickets per state;
- ``tickets_with_agents_past_15m``: running tickets with the agents (NEW to VALIDATED) that
  entered their state over 15 minutes ago (TicketStateSince; NEW by the run's start). A count
  per state says nothing of how long a ticket has been there; a ticket stuck before a provider
  that answers 503s, or on a queue no worker polls, shows here (visibility orders no list by
  age, so a count past a threshold, not the oldest);
- ``tickets_delivering_past_30m``: running tickets in DELIVERING that entered it over 30
  minutes ago (TicketStateSince): answers whose channel keeps refusing for now. A count per
  state stays above zero on a busy helpdesk whose channel fails a first attempt now and then,
  each answer out within minutes;
- ``tickets_spend_limit_usd_per_hour``: the configured limit (TICKETS_SPEND_LIMIT_USD_PER_HOUR),
  so the spend alert compares with a number the operator set in one place;
- ``tickets_worker_replicas_expected``: how many workers serve metrics, as the deployment
  declares it (TICKETS_WORKER_REPLICAS; compose passes its WORKER_REPLICAS), so
  TicketWorkersFewer compares with the number declared, not with how many were up lately:
  guessed from the last hour, a worker dead for an hour lowered the guess and the alert cleared
  with it still gone;
- ``tickets_worker_takes_tasks{queue}``: 1 while the server sends this worker tasks on its
  first queue, 0 while it polls and gets none (Worker Versioning: a build nobody made current,
  or an unversioned worker while a build is current), left as it was when the server cannot
  say; ``tickets_worker_routing_checked_timestamp_seconds``: when the server last answered.
  Every worker idle on a queue is an outage that no other alert names (NoWorkerTakesTasks,
  which counts only answers under 2 minutes old);
- ``tickets_payload_gc_every_seconds`` and ``tickets_payload_gc_current_since_timestamp_seconds``:
  whether the scheduled payload collection keeps up (shared/payload_gc_watch.py), asked once a
  minute, on its own like the routing question, with
  ``tickets_payload_gc_checked_timestamp_seconds`` (0 until the server has answered);
- ``tickets_gauges_updated_timestamp_seconds``: when the counts last succeeded. A count that
  keeps failing would otherwise leave the gauges at their last value (or absent), and the alert
  on overdue reviews silent: TicketGaugesStale fires instead.

Every worker reports the same visibility counts: rules and dashboards take ``max`` over workers.
The routing gauges are each worker's own (by ``instance`` and ``queue``).
"""

import asyncio
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from temporalio.client import Client
from temporalio.common import MetricMeter

from policy import transitions
from policy.transitions import TERMINAL_STATES, TicketState
from shared import metrics, names
from shared import search_attributes as sa
from shared.agents import Category
from shared.payload_gc_watch import CollectionWatch
from shared.worker_versioning import Routed, RoutingProbe

SPEND_LIMIT_ENV: Final = "TICKETS_SPEND_LIMIT_USD_PER_HOUR"
REPLICAS_ENV: Final = "TICKETS_WORKER_REPLICAS"
# More than any deployment of this product runs; a larger number is a typo.
MAX_REPLICAS: Final = 1_000
# Visibility is eventually consistent and a count is a cheap query: every 15 s keeps the gauge
# well inside an alert's `for:` window without loading the server.
DEFAULT_INTERVAL: Final = timedelta(seconds=15)
# The payload collection runs daily or hourly: once a minute is plenty.
COLLECTION_INTERVAL: Final = timedelta(minutes=1)

log = logging.getLogger("worker.gauges")


class GaugeSettingError(ValueError):
    """A setting a gauge reports that cannot be used, naming the variable."""


class SpendLimitError(GaugeSettingError):
    pass


class ReplicasError(GaugeSettingError):
    pass


def spend_limit_from_env(env: Mapping[str, str] | None = None) -> float | None:
    """The configured spend limit in USD per hour, or None; a bad value names the variable."""
    raw = (os.environ if env is None else env).get(SPEND_LIMIT_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SpendLimitError(f"{SPEND_LIMIT_ENV}={raw!r} is not a number of dollars") from None
    if not math.isfinite(value) or value <= 0:
        raise SpendLimitError(f"{SPEND_LIMIT_ENV}={raw!r} must be a positive number of dollars")
    return value


def replicas_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """How many workers the deployment declares it runs, or None; a bad value names the
    variable."""
    raw = (os.environ if env is None else env).get(REPLICAS_ENV, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_REPLICAS:
        raise ReplicasError(
            f"{REPLICAS_ENV}={raw[:40]!r} must be a whole number of workers from 1 to "
            f"{MAX_REPLICAS:,}"
        )
    return int(raw)


def _running(where: str) -> str:
    return f"WorkflowType = '{names.TICKET_WORKFLOW}' AND ExecutionStatus = 'Running' AND {where}"


OVERDUE_QUERY: Final = _running(
    f"{sa.TICKET_STATE.name} = '{TicketState.AWAITING_REVIEW.value}' "
    f"AND {sa.TICKET_ESCALATED.name} = true"
)
OPEN_STATES: Final = [s for s in TicketState if s not in TERMINAL_STATES]
# The states in which a ticket is with the agents, in the lifecycle's order.
AGENT_STATES: Final = [s for s in TicketState if s in transitions.AGENT_STATES]
STALLED_AFTER: Final = timedelta(minutes=15)


def stalled_query(now: datetime, after: timedelta = STALLED_AFTER) -> str:
    """Running tickets with the agents that entered their state more than ``after`` before
    ``now``: NEW by the run's start, the others by TicketStateSince (a reworked ticket counts
    from its return to the agents, not from its start hours before the review)."""
    since = (now - after).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = ", ".join(f"'{s.value}'" for s in AGENT_STATES if s is not TicketState.NEW)
    state = sa.TICKET_STATE.name
    entered = sa.TICKET_STATE_SINCE.name
    return _running(
        f"(({state} = '{TicketState.NEW.value}' AND StartTime < '{since}') OR "
        f"({state} IN ({later}) AND {entered} < '{since}') OR "
        # A ticket whose state was published before TicketStateSince existed (running when the
        # workers were upgraded) has none: counted by its start, or a ticket stuck since then
        # (one that never moves again) would never show.
        f"({state} IN ({later}) AND {entered} IS NULL AND StartTime < '{since}'))"
    )


QUEUED_AFTER: Final = timedelta(minutes=30)


def queued_query(now: datetime, after: timedelta = QUEUED_AFTER) -> str:
    """Running tickets in DELIVERING that entered it more than ``after`` before ``now`` (by
    TicketStateSince; one published before that attribute existed, by its start)."""
    since = (now - after).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entered = sa.TICKET_STATE_SINCE.name
    return _running(
        f"{sa.TICKET_STATE.name} = '{TicketState.DELIVERING.value}' AND "
        f"({entered} < '{since}' OR ({entered} IS NULL AND StartTime < '{since}'))"
    )


# The final states the alerts count (deploy/prometheus/rules.yml: TicketsFailing,
# TicketsNotDelivered, TicketsUnanswered), and the values of the counter's other labels.
ALERTED_STATES: Final = (TicketState.FAILED, TicketState.DELIVERY_FAILED, TicketState.UNANSWERED)
SLA_LABELS: Final = ("met", "missed", "none")


def zero_alerted_counters(meter: MetricMeter, namespace: str) -> None:
    """Each series of ``tickets_finished_total`` the alerts count, at 0 from the worker's
    start, with the labels the ticket workflow's own meter gives it (its namespace, task queue
    and type). A counter that appears at its first event, already at 1, shows no increase: after
    a worker restart that kept its address, a failure counted 1 before and 1 again after read
    as none, and its alert came up to 15 minutes late (a review, 2026-12-08). From 0, the
    restart is a reset and the failure an increase."""
    counter = meter.with_additional_attributes(
        {
            "namespace": namespace,
            "task_queue": names.TICKETS_TASK_QUEUE,
            "workflow_type": names.TICKET_WORKFLOW,
        }
    ).create_counter(metrics.TICKETS_FINISHED, metrics.TICKETS_FINISHED_HELP)
    for state in ALERTED_STATES:
        for category in [*(c.value for c in Category), "none"]:
            for sla in SLA_LABELS:
                counter.add(0, {"state": state.value, "category": category, "sla": sla})


class VisibilityGauges:
    def __init__(
        self,
        client: Client,
        meter: MetricMeter,
        spend_limit_usd_per_hour: float | None = None,
        interval: timedelta = DEFAULT_INTERVAL,
        replicas: int | None = None,
        clock: Callable[[], float] = time.time,
        routing: RoutingProbe | None = None,
        collection: Callable[[Client], Awaitable[CollectionWatch]] | None = None,
    ) -> None:
        self._client = client
        self._routing = routing
        self._collection = collection
        self._collection_asked = -math.inf
        self._gc_every = meter.create_gauge_float(
            metrics.PAYLOAD_GC_EVERY,
            "The scheduled payload collection's interval in seconds (0: none, or paused)",
        )
        self._gc_current_since = meter.create_gauge_float(
            metrics.PAYLOAD_GC_CURRENT_SINCE,
            "Since when the scheduled payload collection is current (Unix seconds)",
        )
        self._gc_checked = meter.create_gauge_float(
            metrics.PAYLOAD_GC_CHECKED,
            "When the server last said how the payload collection does (Unix seconds; 0: never)",
        )
        if collection is not None:
            self._gc_checked.set(0.0)  # never, until the first answer
        self._takes_tasks = meter.create_gauge(
            metrics.WORKER_TAKES_TASKS,
            "1 while the server sends this worker tasks on its first queue, 0 while it does not",
        )
        self._routing_checked = meter.create_gauge_float(
            metrics.ROUTING_CHECKED,
            "When the server last said whether it sends this worker tasks (Unix seconds)",
        )
        self._interval = interval.total_seconds()
        self._clock = clock
        self._updated = meter.create_gauge_float(
            metrics.GAUGES_UPDATED, "When the ticket gauges were last counted (Unix seconds)"
        )
        self._overdue = meter.create_gauge(
            metrics.REVIEW_OVERDUE, "Running tickets awaiting review past their SLA deadline"
        )
        self._open = meter.create_gauge(metrics.OPEN_TICKETS, "Running tickets per state")
        self._stalled = meter.create_gauge(
            metrics.STALLED_WITH_AGENTS,
            "Running tickets with the agents 15 minutes after they entered their state",
        )
        self._queued = meter.create_gauge(
            metrics.QUEUED_PAST_30M,
            "Running tickets whose answer has waited in the delivery queue over 30 minutes",
        )
        if spend_limit_usd_per_hour is not None:
            meter.create_gauge_float(
                metrics.SPEND_LIMIT, "Configured LLM spend limit in USD per hour"
            ).set(spend_limit_usd_per_hour)
        if replicas is not None:
            meter.create_gauge(
                metrics.WORKER_REPLICAS_EXPECTED,
                "Workers serving metrics, as the deployment declares",
            ).set(replicas)

    async def update(self) -> None:
        if self._routing is not None:
            # First, and on its own: a failing count below must not leave it unread, nor it
            # the counts.
            try:
                await self._check_routing(self._routing)
            except Exception as err:
                log.warning("could not ask where tasks go: %s: %s", type(err).__name__, err)
        if self._collection is not None and self._clock() - self._collection_asked >= (
            COLLECTION_INTERVAL.total_seconds()
        ):
            try:
                watched = await self._collection(self._client)
                self._gc_every.set(watched.every_seconds)
                self._gc_current_since.set(watched.current_since)
                self._collection_asked = self._clock()
                self._gc_checked.set(self._collection_asked)
            except Exception as err:  # left as it was; asked again a minute later
                # Not at the next round: a check that keeps failing (a missing permission) asked
                # the server four times a minute per worker, and logged as often.
                self._collection_asked = self._clock()
                log.warning(
                    "could not ask about the payload collection: %s: %s", type(err).__name__, err
                )
        overdue = await self._client.count_workflows(OVERDUE_QUERY)
        self._overdue.set(overdue.count)
        for state in OPEN_STATES:
            count = await self._client.count_workflows(
                _running(f"{sa.TICKET_STATE.name} = '{state.value}'")
            )
            self._open.set(count.count, {"state": state.value})
        now = self._clock()
        stalled = await self._client.count_workflows(
            stalled_query(datetime.fromtimestamp(now, UTC))
        )
        self._stalled.set(stalled.count)
        queued = await self._client.count_workflows(queued_query(datetime.fromtimestamp(now, UTC)))
        self._queued.set(queued.count)
        self._updated.set(now)

    async def _check_routing(self, probe: RoutingProbe) -> None:
        routed, said = await probe.ask(self._client)
        if routed is Routed.UNKNOWN:
            # The gauge keeps its value; its timestamp does not move, so the alert leaves it
            # out once it is old.
            log.warning("%s", said)
            return
        self._takes_tasks.set(int(routed is Routed.TAKES), {"queue": probe.queue})
        self._routing_checked.set(self._clock())

    async def run(self) -> None:
        """Until cancelled; a failed count is logged and tried again: the server briefly away,
        or anything else (a refused query after a server upgrade), which must not end the loop
        and leave the gauges frozen (the freshness gauge shows it either way)."""
        while True:
            try:
                await self.update()
            except Exception as err:
                log.warning(
                    "could not count tickets for the gauges: %s: %s", type(err).__name__, err
                )
            await asyncio.sleep(self._interval)
