"""A worker for the workflows alone (``--queues tickets``), whose environment chose no delivery
channel (the SMTP password or the webhook's secret kept for the delivery workers), makes no
first delivery attempt itself: it recorded the answer as sent through its default, the ledger,
the ticket completed "delivered", and the customer got nothing."""

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery.activity import DeliveryActivities
from activities.delivery.config import DeliveryConfig
from shared import names
from shared.stores.sqlite_ledger import SqliteLedger
from tests.delivery.attempt_fakes import REQUEST


async def test_a_worker_that_chose_no_channel_and_polls_no_delivery_queue_hands_it_on(
    tmp_path: Path,
) -> None:
    ledger = SqliteLedger(tmp_path / "outbox.sqlite3")
    # A choice for another ticket channel (phone) is no choice for this one (chat).
    config = DeliveryConfig.from_env({"TICKETS_DELIVERY_CHANNEL_PHONE": "ledger"})
    activities = DeliveryActivities(ledger, config, polls_delivery=False)
    with pytest.raises(ApplicationError) as handed_on:
        await ActivityEnvironment().run(activities.deliver_response_now, REQUEST)
    assert handed_on.value.type == names.DELIVERY_BUSY_ERROR  # the workflow queues it
    assert await ledger.count() == 0  # nothing recorded, nothing marked sent
    await ledger.close()


def test_which_workers_make_first_attempts(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "outbox.sqlite3")  # never opened here

    def local(env: dict[str, str], polls_delivery: bool, channel: str) -> bool:
        config = DeliveryConfig.from_env(env)
        return DeliveryActivities(ledger, config, polls_delivery=polls_delivery).local_first(
            channel
        )

    assert not local({}, False, "email")
    assert local({}, True, "email")
    assert local({"TICKETS_DELIVERY_CHANNEL": "ledger"}, False, "email")
    assert local({"TICKETS_DELIVERY_CHANNEL_CHAT": "ledger"}, False, "chat")
    assert not local({"TICKETS_DELIVERY_CHANNEL_CHAT": "ledger"}, False, "email")
