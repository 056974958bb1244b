"""Timeouts and retry policies of every activity the workflows call, each with its reason."""

from datetime import timedelta
from typing import Final

from temporalio.common import RetryPolicy

# ---- agent calls (LLM or offline) ----------------------------------------------------------------
# One LLM answer takes seconds, a long one about a minute. Start-to-close bounds one attempt; the
# provider client's own timeout sits below it (issue: providers) so the SDK reports a clean error.
AGENT_START_TO_CLOSE: Final = timedelta(minutes=2)
# Agent activities heartbeat a few times per timeout: a worker that dies mid-call is noticed in
# 20 seconds and the call moves to another worker, instead of waiting out the two minutes.
AGENT_HEARTBEAT: Final = timedelta(seconds=20)
# Retries of one agent call are bounded by time, not by a small attempt count: a rate limit (429)
# says "not now", never "no", and a ticket must not fail on it while its SLA still allows waiting.
# So the policy itself allows any number of attempts, and the call's schedule-to-close timeout
# (AgentCaller: the time left until the ticket's SLA deadline, at least AGENT_MIN_RETRY_WINDOW)
# ends them. Backoff from 1 s to 60 s; a 429's Retry-After sets the next delay exactly. Failures
# other than a rate limit (5xx, timeouts, connection errors) still stop after five attempts: the
# activity makes them non-retryable then (activities/retry_budget.py), so a broken provider hands
# the call to the fallback chain soon.
# Permanent errors (bad request, auth, invalid output) are non-retryable from the start.
# Changing these attributes of ScheduleActivityTask does not change the command sequence:
# histories recorded with the old policy replay unchanged (tests/replay).
AGENT_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
)
# The least time an agent call may keep retrying: also when the SLA deadline has passed, so a
# late ticket still rides out a short rate-limit spell instead of failing at once.
AGENT_MIN_RETRY_WINDOW: Final = timedelta(minutes=15)
# Calls made for no ticket (a swarm item, a standalone plan): an hour of rate limits at most.
AGENT_DEFAULT_RETRY_WINDOW: Final = timedelta(hours=1)

# ---- knowledge base ------------------------------------------------------------------------------
# A local lookup: it answers in milliseconds or something is wrong with the worker. Since
# lean-history it runs as a local activity (no task-queue round trip, no workflow task of its own).
KB_START_TO_CLOSE: Final = timedelta(seconds=10)
KB_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)

# ---- delivery ------------------------------------------------------------------------------------
# One attempt: a ledger write, one request to the channel (its client timeout is below this, so a
# hanging destination ends the attempt cleanly), and marking the row sent.
DELIVERY_START_TO_CLOSE: Final = timedelta(seconds=45)
# The activity heartbeats while it works: a worker that dies mid-delivery is noticed in seconds and
# the delivery moves to another worker (which sends the recorded answer), not after 45 s.
DELIVERY_HEARTBEAT: Final = timedelta(seconds=10)
# Delivery is idempotent (the ledger keeps one answer per ticket, every attempt carries its
# idempotency key), so retrying is safe and an answer that is ready should not be lost to a
# passing outage: keep trying for hours, backing off to 10 minutes (a destination's Retry-After
# never shortens that backoff: activities/delivery/attempt_time.py). A refusal for good
# (DeliveryRejected) is non-retryable and ends the ticket in DELIVERY_FAILED at once.
DELIVERY_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=30,
)

# ---- delivery's first attempt, as a local activity (tickets since lean-history) ------------------
# The same bound as a queued attempt: the channel's client timeout sits below it. A local activity
# that runs longer than the workflow task's timeout keeps the task alive with heartbeats.
LOCAL_DELIVERY_START_TO_CLOSE: Final = DELIVERY_START_TO_CLOSE
# One attempt only: any failure but a refusal for good hands the delivery to the delivery queue,
# whose policy keeps trying for hours (a local activity retrying that long would do it with
# timers and workflow tasks, and hold the worker's local-activity slots).
LOCAL_DELIVERY_RETRY: Final = RetryPolicy(maximum_attempts=1)
# One read of the ledger's row, after a cancellation (workflows/ticket_delivery.py): a few quick
# tries, then the cancellation stands as it did before the ledger was asked.
FIND_SENT_START_TO_CLOSE: Final = timedelta(seconds=10)
FIND_SENT_RETRY: Final = RetryPolicy(maximum_attempts=3)

# ---- configuration snapshot (local activity) -----------------------------------------------------
# Reads the worker's in-memory configuration: a local activity, no extra round trip to the server.
CONFIG_START_TO_CLOSE: Final = timedelta(seconds=5)
CONFIG_RETRY: Final = RetryPolicy(maximum_attempts=3)

# ---- batch: checking on quiet tickets ------------------------------------------------------------
# One describe call per ticket in the window (at most a thousand): seconds, not minutes.
CHECK_TICKETS_START_TO_CLOSE: Final = timedelta(minutes=2)
CHECK_TICKETS_HEARTBEAT: Final = timedelta(seconds=30)
CHECK_TICKETS_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=5)
# A batch's ticket started again (a describe and two starts on the server).
RESTART_TICKET_START_TO_CLOSE: Final = timedelta(seconds=30)
RESTART_TICKET_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=5)
# A group's refused starts at once (up to a hundred tickets, eight at a time; each three tries
# of 20 s at most, 5 s of pauses and a 20 s look-up after the last: 85 s, 13 rounds, 18.4
# minutes when every start is slow): it heartbeats in the background. Retried as a whole only
# when its worker is lost or does not know it yet (a rolling deploy): for an hour, whatever the
# attempts. (It was 15 minutes, under that worst case: every attempt then timed out and began
# the group again, and after the hour the group was never restarted.)
RESTART_TICKETS_START_TO_CLOSE: Final = timedelta(minutes=25)
RESTART_TICKETS_SCHEDULE_TO_CLOSE: Final = timedelta(hours=1)
RESTART_TICKETS_HEARTBEAT: Final = timedelta(seconds=30)
RESTART_TICKETS_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)
)
