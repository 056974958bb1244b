"""`redrive --yes` applying its plan when one ticket's restart meets an error of its own (the
project's, not the server's): the others are redriven and the report names each (a review,
2026-12-07: such an error ended the loop before the report, and the tickets already restarted
went unnamed). A fake of the client; shared/operations.start_ticket replaced by a fake."""

from datetime import UTC, datetime
from typing import Any

import pytest

from shared import operations as ops
from shared.operations import SearchAttributesMissing
from shared.view import TicketRequest
from starter import redrive
from starter.redrive_plans import RedriveItem, RedriveReport
from tests.support.tickets import make_ticket


class DescribedFake:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id


class ClientFake:
    """Only what `apply` asks of a client for restarts: a handle whose describe names a run."""

    def get_workflow_handle(self, workflow_id: str) -> Any:
        class Handle:
            async def describe(self) -> DescribedFake:
                return DescribedFake(f"new-run-of-{workflow_id}")

        return Handle()


def restart(ticket_id: str) -> RedriveItem:
    return RedriveItem(
        ticket_id=ticket_id,
        workflow_id=f"ticket-{ticket_id}",
        run_id="old",
        action="restart",
        why="failed",
        task_queue="tickets",
        request=TicketRequest(ticket=make_ticket(ticket_id=ticket_id)),
    )


async def test_one_ticket_s_own_error_is_reported_and_the_others_are_redriven(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def start_ticket_fake(client: Any, ticket: Any, task_queue: str, **_: Any) -> Any:
        if ticket.ticket_id == "T-2":
            raise SearchAttributesMissing("the namespace lacks TicketState")
        return ops.SubmitOutcome(
            ticket_id=ticket.ticket_id, workflow_id=f"ticket-{ticket.ticket_id}", started=True
        )

    monkeypatch.setattr(ops, "start_ticket", start_ticket_fake)
    report = RedriveReport(
        state="FAILED", since=datetime.now(UTC), applied=False,
        tickets=[restart("T-1"), restart("T-2"), restart("T-3")],
    )  # fmt: skip

    await redrive.apply(ClientFake(), None, report)  # type: ignore[arg-type]

    assert report.applied
    by_id = {t.ticket_id: t for t in report.tickets}
    assert by_id["T-1"].new_run_id == "new-run-of-ticket-T-1" and by_id["T-1"].error is None
    assert by_id["T-2"].error == "SearchAttributesMissing: the namespace lacks TicketState"
    assert by_id["T-3"].new_run_id == "new-run-of-ticket-T-3"


class EmptyLedgerFake:
    """A fake of the delivery ledger holding nothing."""

    async def get(self, ticket_id: str) -> None:
        return None


async def test_a_failed_ticket_with_a_newer_version_s_field_is_planned_for_a_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After a rollback: the worker reads such an input leniently (patch
    # ignore-unknown-input-fields) and answers it; the plan read it strictly and skipped it as
    # "would fail again" (a review, 2026-12-07).
    from starter import redrive_plans

    ticket = make_ticket(ticket_id="T-NEWER").model_dump(mode="json") | {"locale": "de-DE"}

    async def first_input_fake(client: Any, workflow_id: str, run_id: str) -> Any:
        return {"ticket": ticket}

    monkeypatch.setattr(redrive_plans, "first_input", first_input_fake)
    item = restart("T-NEWER").model_copy(update={"action": "skip", "request": None})

    planned = await redrive_plans.plan_failed(None, EmptyLedgerFake(), item)  # type: ignore[arg-type]

    assert planned.action == "restart", planned.why
    assert "left out: ticket.locale" in planned.why
    assert planned.request is not None and planned.request.ticket.ticket_id == "T-NEWER"
