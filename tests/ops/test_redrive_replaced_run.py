"""`python -m starter redrive` for a ticket started again after a run that handed its answer over
and could not tell whether it arrived: the new run stops for a person, and redrive settles it
with --arrived or --not-arrived, reading that run's row as this ticket's (docs/delivery.md)."""

from typing import Any

import pytest
from temporalio.client import Client

from policy.transitions import TicketState
from shared import operations as ops
from shared.stores.ledger import UNCERTAIN_PREFIX
from tests.ops.conftest import OpsServer, Outages, failed_with_an_answer_recorded
from tests.ops.test_redrive_command import entry, redrive
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def in_state(client: Client, ticket_id: str, state: TicketState) -> Any:
    view = await ops.ticket_status(client, ticket_id)
    return view if view.state is state else None


async def test_a_replaced_runs_answer_that_may_have_arrived_is_settled_once_checked(
    ops_server: OpsServer, outages: Outages
) -> None:
    """A ticket started again after a run that handed its answer over and could not tell
    whether it arrived ends DELIVERY_FAILED saying so (its answer is not sent again under a
    new key). Redrive read that run's row as another ticket's: --arrived and --not-arrived
    were refused for it, and the ticket could be settled by nothing."""
    client = ops_server.client
    lost, found = make_ticket(subject="Lost reply"), make_ticket(subject="Found reply")
    keys = {}
    for ticket in (lost, found):
        text = f"Your answer, {ticket.ticket_id}."
        recorded = await failed_with_an_answer_recorded(client, outages, ticket, text)
        keys[ticket.ticket_id] = key = recorded.idempotency_key
        assert await outages.ledger.claim(ticket.ticket_id, "the first run's attempt", 60, key)
        await outages.ledger.note_failure(
            ticket.ticket_id, UNCERTAIN_PREFIX + "the relay did not say whether it took it", key
        )
        await outages.ledger.release(ticket.ticket_id, "the first run's attempt")
        [again] = await ops.submit_tickets(client, [ticket])
        assert again.started
        view = await wait_until(
            lambda t=ticket: in_state(client, t.ticket_id, TicketState.DELIVERY_FAILED),
            timeout=60,
            what="the new run stopped by the answer that may have arrived",
        )
        assert view.failure is not None and f"--not-arrived {ticket.ticket_id}" in view.failure

    _, done = await redrive(
        ops_server,
        *("--state", "DELIVERY_FAILED", "--yes"),
        *("--not-arrived", lost.ticket_id, "--arrived", found.ticket_id),
    )
    assert entry(done, lost.ticket_id)["action"] == "resend"
    assert entry(done, found.ticket_id)["action"] == "record-sent"

    for ticket in (lost, found):
        view = await wait_until(
            lambda t=ticket: in_state(client, t.ticket_id, TicketState.COMPLETED),
            timeout=60,
            what="COMPLETED",
        )
        assert view.delivery is not None
        assert view.delivery.idempotency_key == keys[ticket.ticket_id]
    sent = outages.receiver.by_ticket()
    # The one not found went out again under that run's key; the one found, not at all.
    [resent] = sent[lost.ticket_id]
    assert resent.headers["Idempotency-Key"] == keys[lost.ticket_id]
    assert found.ticket_id not in sent
