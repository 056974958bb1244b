"""An answer that went out while the ledger could not record it is not sent again: the attempt
tries the write again for a few seconds, tells the server it sent (heartbeat details) and, as a
local first attempt, tells the workflow, which passes it to the queued attempt. Before, the
next attempt waited the claim out and sent the answer a second time. On the real dev server
with the real offline agents and a real webhook receiver."""

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.delivery import activity
from activities.delivery.config import DeliveryConfig, WebhookConfig
from policy.transitions import TicketState
from shared.stores.ledger import LedgerEntry
from shared.stores.sqlite_ledger import SqliteLedger
from tests.delivery.conftest import SECRET, delivering, run_tickets
from tests.support.tickets import make_ticket
from tests.support.webhook_receiver import Received, Reply, webhook_receiver


class LedgerDownForMarksFake(SqliteLedger):
    """The real SQLite ledger whose first ``failing`` writes marking a row sent fail, as a
    database restarting would."""

    def __init__(self, path: Path, failing: int) -> None:
        super().__init__(path)
        self.failing = failing
        self.marks = 0

    async def mark_sent(self, ticket_id: str, key: str | None = None) -> LedgerEntry:
        self.marks += 1
        if self.marks <= self.failing:
            raise OSError("could not connect to the database")
        return await super().mark_sent(ticket_id, key)


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(activity, "MARK_SENT_PAUSES", (0.01,) * len(activity.MARK_SENT_PAUSES))


def webhook(url: str) -> DeliveryConfig:
    return DeliveryConfig(
        default_method="webhook", webhook=WebhookConfig(url=url, secret=SECRET, timeout_seconds=5)
    )


TRIES = len(activity.MARK_SENT_PAUSES) + 1  # one attempt's writes


@pytest.mark.parametrize("attempts_failing", [1, 2], ids=["local", "local-and-queued"])
async def test_a_local_send_the_ledger_could_not_record_is_recorded_not_sent_again(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, attempts_failing: int
) -> None:
    ledger = LedgerDownForMarksFake(tmp_path / "outbox.sqlite3", failing=TRIES * attempts_failing)
    ticket = make_ticket(channel="chat")
    with webhook_receiver() as receiver:
        async with delivering(dev_env.client, task_queue, tmp_path, webhook(receiver.url), ledger):
            [view] = await run_tickets(dev_env.client, task_queue, [ticket], TicketState.COMPLETED)
            entry = await ledger.get(ticket.ticket_id)
        requests = receiver.snapshot()

    assert [r.ticket_id for r in requests] == [ticket.ticket_id]  # sent once
    assert ledger.marks == TRIES * attempts_failing + 1
    assert entry is not None and entry.sent_at is not None
    assert view.delivery.already_delivered is False


async def test_a_queued_send_the_ledger_could_not_record_is_recorded_by_the_retry(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # The local attempt's send fails (a 500), so the queued attempt sends; its writes fail and
    # it fails for now: its retry reads from its heartbeat details that the answer went out.
    def flaky(request: Received, earlier: int) -> Reply:
        return Reply(500, body="busy") if earlier == 0 else Reply()

    ledger = LedgerDownForMarksFake(tmp_path / "outbox.sqlite3", failing=TRIES)
    ticket = make_ticket(channel="chat")
    with webhook_receiver(flaky) as receiver:
        async with delivering(dev_env.client, task_queue, tmp_path, webhook(receiver.url), ledger):
            await run_tickets(dev_env.client, task_queue, [ticket], TicketState.COMPLETED)
        requests = receiver.snapshot()

    assert len(requests) == 2  # the refused one and the one that went out; not a third
    assert ledger.marks == TRIES + 1
