"""A destination's Retry-After sets the next delivery attempt's delay, but never shortens the
delivery policy's own backoff: Temporal counts every attempt against the policy's maximum, and a
receiver answering "503, Retry-After: 5" through a maintenance window spent all 30 attempts in
two and a half minutes (a ready answer ended DELIVERY_FAILED) where the backoff keeps trying for
hours."""

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery.activity import DeliveryActivities
from activities.delivery.attempt_time import retry_delay
from shared import names
from shared.stores.sqlite_ledger import SqliteLedger
from tests.delivery.conftest import asked
from tests.delivery.test_webhook import webhook
from tests.support.webhook_receiver import Received, Reply, webhook_receiver
from workflows.options import DELIVERY_RETRY, DELIVERY_START_TO_CLOSE


def attempt(number: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, attempt=number, start_to_close_timeout=DELIVERY_START_TO_CLOSE
    )
    return env


def test_a_short_retry_after_waits_at_least_the_policys_backoff() -> None:
    five = timedelta(seconds=5)
    assert attempt(1).run(retry_delay, five) == five  # the policy would wait 2 s
    assert attempt(3).run(retry_delay, five) == timedelta(seconds=8)
    assert attempt(12).run(retry_delay, five) == timedelta(minutes=10)  # the policy's cap
    assert attempt(3).run(retry_delay, timedelta(minutes=2)) == timedelta(minutes=2)
    assert attempt(3).run(retry_delay, None) is None  # no ask: the server's backoff as it is
    assert attempt(10_000).run(retry_delay, five) == timedelta(minutes=10)
    # The whole policy, a receiver saying "Retry-After: 5" every time: hours, not minutes.
    waits = [attempt(n).run(retry_delay, five) for n in range(1, DELIVERY_RETRY.maximum_attempts)]
    assert sum(waits, timedelta()) > timedelta(hours=3)


async def test_a_queued_attempt_told_to_retry_soon_late_in_its_policy_waits_the_backoff(
    tmp_path: Path,
) -> None:
    def maintenance(request: Received, earlier: int) -> Reply:
        return Reply(503, headers={"Retry-After": "5"}, body="down for maintenance")

    with webhook_receiver(maintenance) as receiver:
        delivery = DeliveryActivities(
            SqliteLedger(tmp_path / "outbox.sqlite3"), webhook(receiver.url)
        )
        try:
            with pytest.raises(ApplicationError) as failed:
                await attempt(12).run(delivery.deliver_response, asked("chat"))
        finally:
            await delivery.aclose()
        requests = receiver.snapshot()

    assert len(requests) == 1 and failed.value.type == names.DELIVERY_UNAVAILABLE_ERROR
    assert not failed.value.non_retryable
    assert failed.value.next_retry_delay == timedelta(minutes=10)
