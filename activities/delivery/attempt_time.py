"""How long a delivery attempt has, whether enough of it is left to send and record, how long it
holds its claim on an answer, and how long it waits for another attempt's claim (activity.py)."""

import asyncio
from datetime import timedelta
from typing import Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery.config import DeliveryConfig
from activities.delivery.mark_sent import MARK_SENT_RESERVE_SECONDS
from shared import names
from shared.stores.ledger import LedgerEntry
from workflows.options import DELIVERY_RETRY, DELIVERY_START_TO_CLOSE

# How long one attempt's claim on an answer holds: longer than any attempt may run (the
# channels' client timeouts stay below the start-to-close), with room for a slow ledger write.
CLAIM_SECONDS: Final = DELIVERY_START_TO_CLOSE.total_seconds() + 30
# When a refused attempt tries again: the claim's holder has usually sent by then (or the
# policy's backoff after that attempt, when longer: retry_delay).
IN_PROGRESS_RETRY: Final = timedelta(seconds=5)
# A queued attempt that finds another's claim holding waits this long for it (reading the row
# every IN_PROGRESS_POLL seconds, heartbeating) before it fails for now: each retry is one of
# the delivery's attempts, and failing at once spent a third of them in one claim's time.
IN_PROGRESS_WAIT: Final = 20.0
IN_PROGRESS_POLL: Final = 1.0


def retry_delay(asked: timedelta | None) -> timedelta | None:
    """The next attempt's delay when the destination asked for one (a 429's or 503's
    Retry-After): what it asked, but never less than the delivery policy's own backoff after
    this attempt. Temporal counts every attempt against the policy's maximum either way: a
    destination answering "Retry-After: 5" for its whole maintenance window spent the 30
    attempts in two and a half minutes, and a ready answer ended in DELIVERY_FAILED, where the
    policy's backoff keeps trying for hours."""
    if asked is None:
        return None
    attempt = activity.info().attempt if activity.in_activity() else 1
    policy = DELIVERY_RETRY
    cap = (policy.maximum_interval or policy.initial_interval).total_seconds()
    # The exponent bounded: coefficient ** attempt overflows a float past ~1,000 attempts.
    grown = policy.initial_interval.total_seconds() * policy.backoff_coefficient ** min(
        attempt - 1, 64
    )
    return max(asked, timedelta(seconds=min(grown, cap)))


def attempt_deadline() -> float:
    """When this attempt's start-to-close timeout ends, on the event loop's clock (counted from
    now, the attempt's start in this process)."""
    limit = DELIVERY_START_TO_CLOSE
    if activity.in_activity():
        limit = activity.info().start_to_close_timeout or limit
    return asyncio.get_running_loop().time() + limit.total_seconds()


def claim_wait_within(attempt_seconds: float, config: DeliveryConfig) -> float:
    """How long a queued attempt may wait for another's claim: IN_PROGRESS_WAIT at most, and
    never so long that the slowest configured channel's send would not fit in the attempt."""
    sends = [c.timeout_seconds for c in (config.webhook, config.smtp) if c is not None]
    return max(
        0.0,
        min(
            IN_PROGRESS_WAIT,
            attempt_seconds - max(sends, default=0.0) - MARK_SENT_RESERVE_SECONDS,
        ),
    )


def too_little_left(channel: object, attempt_deadline: float) -> bool:
    """Whether a send begun now could not be marked sent within the attempt: one timed out after
    its send (the ledger slow) is sent again once its claim runs out. (A channel that states no
    timeout, a test's fake, is not held to it.)"""
    timeout = getattr(channel, "timeout_seconds", None)
    left = attempt_deadline - asyncio.get_running_loop().time()
    return timeout is not None and left < timeout + MARK_SENT_RESERVE_SECONDS


def out_of_time(entry: LedgerEntry) -> ApplicationError:
    return ApplicationError(
        f"too little of this attempt is left to send the answer of ticket "
        f"{entry.ticket_id} and record it; the next attempt sends it",
        type=names.DELIVERY_OUT_OF_TIME_ERROR,
        # Never under the policy's backoff (retry_delay): a ledger slow for ten minutes made
        # every attempt out of time, each 5 s after the last, and the 30 were spent.
        next_retry_delay=retry_delay(IN_PROGRESS_RETRY),
    )
