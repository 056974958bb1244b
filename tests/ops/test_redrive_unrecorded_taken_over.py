"""`redrive --state DELIVERY_FAILED` and a ticket whose answer went out unrecorded (its delivery's
history says so) while another ticket with the same id took the ledger's row over since: the plan
was "redeliver", whose delivery records this ticket's decision anew and sends the customer a
second copy. Now it skips, saying why. The history reader is a stand-in (a fake answering what a
real history would say); the ledger is the real SQLite one."""

from pathlib import Path

import pytest

from shared.stores.sqlite_ledger import SqliteLedger
from starter import redrive_plans
from starter.delivery_history import DeliveryHistory
from starter.redrive_plans import RedriveItem, plan_delivery_failed
from tests.stores.conftest import delivery


def failed_delivery() -> RedriveItem:
    """The DELIVERY_FAILED run of ticket T-1 (chain run-1)."""
    return RedriveItem(
        ticket_id="T-1", workflow_id="ticket-T-1", run_id="run-1", action="skip", why="",
        chain="run-1",
    )  # fmt: skip


@pytest.mark.parametrize("went_out", [True, False])
async def test_an_answer_out_unrecorded_whose_row_another_ticket_took_is_not_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, went_out: bool
) -> None:
    ledger = SqliteLedger(tmp_path / "outbox.sqlite3")
    ours = delivery(ticket_id="T-1", chain="run-1")
    await ledger.record(delivery(ticket_id="T-1", chain="run-9", text="Another ticket's."))

    async def history_says(*_: object) -> DeliveryHistory:  # a fake of the history reader
        return DeliveryHistory(
            reset_event_id=12, sent_key=ours.idempotency_key if went_out else None
        )

    monkeypatch.setattr(redrive_plans, "read_delivery", history_says)
    planned = await plan_delivery_failed(None, ledger, failed_delivery())  # type: ignore[arg-type]
    await ledger.close()

    if went_out:
        assert planned.action == "skip"
        assert "second copy" in planned.why and "another ticket's" in planned.why
    else:  # nothing of it went out: delivery, run again, records and sends it
        assert planned.action == "redeliver"
