"""`redrive --state FAILED` and a ticket whose earlier run's answer is in the ledger: a run started
to replace one that sent its answer (cancelled just after the send, say) is this ticket, and the
answer it would restart for went out already. Read as another ticket's (its chain is the replaced
run's), the failed run was restarted, and once the replaced chain fell out of the newest twenty
kept in the memo, a restart's delivery took the row over and answered the customer twice."""

from pathlib import Path

import pytest

from shared.stores.sqlite_ledger import SqliteLedger
from starter import redrive_plans
from starter.redrive_plans import RedriveItem, plan_failed
from tests.stores.conftest import delivery


def replacing_run() -> RedriveItem:
    """The FAILED run-2 of ticket T-1, started to replace run-1."""
    return RedriveItem(
        ticket_id="T-1",
        workflow_id="ticket-T-1",
        run_id="run-2",
        action="skip",
        why="",
        chain="run-2",
        replaces=["run-1"],
    )


async def test_a_failed_run_whose_replaced_run_sent_the_answer_is_not_restarted(
    tmp_path: Path,
) -> None:
    ledger = SqliteLedger(tmp_path / "outbox.sqlite3")
    entry, _ = await ledger.record(delivery(ticket_id="T-1", chain="run-1"))
    await ledger.mark_sent("T-1", entry.idempotency_key)
    item = replacing_run()

    planned = await plan_failed(None, ledger, item)  # type: ignore[arg-type]  # nothing to read

    assert planned.action == "skip"
    assert "the ledger holds an answer for it" in planned.why


async def test_a_failed_run_whose_replaced_run_only_began_a_send_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Begun and failed for now: nothing confirms the customer has it. The restart's delivery
    # sends it again under its key (the ledger's rule for a replaced run's row); a skip would
    # leave the ticket FAILED for good.
    ledger = SqliteLedger(tmp_path / "outbox.sqlite3")
    entry, _ = await ledger.record(delivery(ticket_id="T-1", chain="run-1"))
    assert await ledger.claim("T-1", "attempt-1", 60, entry.idempotency_key)
    await ledger.note_failure("T-1", "connection refused", entry.idempotency_key)

    async def its_input(client: object, workflow_id: str, run_id: str) -> dict[str, object]:
        return {"ticket": {"ticket_id": "T-1", "subject": "Help", "body": "Locked out."}}

    monkeypatch.setattr(redrive_plans, "first_input", its_input)
    item = replacing_run()

    planned = await plan_failed(None, ledger, item)  # type: ignore[arg-type]

    assert planned.action == "restart", planned.why
