"""A ticket stopped from outside (an operator's terminate) reads as stopped in the CLI's JSON and
after a wait: `status --json` said the state it last recorded (AWAITING_REVIEW, with its review
reasons), which a script would queue for a review the ticket can no longer take, and
`submit --wait` said "still in progress" and exited 0."""

import json
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from shared import names
from shared.temporal_client import connect, connection_settings
from shared.tickets import Ticket
from shared.view import TicketRequest
from starter.submit_command import _stopped
from tests.integration.conftest import Stack
from tests.support.processes import run_cli
from tests.support.temporal import wait_until

pytestmark = pytest.mark.integration


async def test_status_json_of_a_ticket_terminated_in_review_says_it_was_stopped(
    stack: Stack,
) -> None:
    client = await connect(connection_settings({"TEMPORAL_ADDRESS": stack.server.address}))
    ticket = Ticket(
        ticket_id="IT-STOPPED-1",
        subject="Account hacked - urgent",
        body="Someone changed the password on our admin account; we are locked out. Help now.",
        customer_tier="enterprise",
    )
    handle = await client.start_workflow(
        names.TICKET_WORKFLOW,
        TicketRequest(ticket=ticket),
        id=names.ticket_workflow_id(ticket.ticket_id),
        task_queue=names.TICKETS_TASK_QUEUE,
    )

    def in_review() -> bool:
        read = run_cli(stack.env, "status", ticket.ticket_id, "--json")
        return read.code == 0 and json.loads(read.stdout)["state"] == "AWAITING_REVIEW"

    await wait_until(in_review, timeout=60, what="the ticket in review")
    await handle.terminate("stuck")
    status = json.loads(run_cli(stack.env, "status", ticket.ticket_id, "--json").stdout)

    assert (status["state"], status["workflow_status"]) == ("TERMINATED", "TERMINATED")
    assert status["transitions"][-1]["to_state"] == "AWAITING_REVIEW"  # what it last recorded


class DescribingFake:
    """A fake client whose tickets' workflows have the given statuses (None: not found)."""

    def __init__(self, statuses: dict[str, str | None]) -> None:
        self.statuses = statuses

    def get_workflow_handle(self, workflow_id: str) -> Any:
        async def describe() -> Any:
            status = self.statuses[workflow_id]
            if status is None:
                raise RPCError("not found", RPCStatusCode.NOT_FOUND, b"")
            return SimpleNamespace(status=SimpleNamespace(name=status))

        return SimpleNamespace(describe=describe)


async def test_a_wait_names_the_tickets_stopped_from_outside() -> None:
    fake = DescribingFake(
        {
            "ticket-A": "TERMINATED",
            "ticket-B": "RUNNING",
            "ticket-C": "TIMED_OUT",
            "ticket-D": None,
        }
    )
    stopped = await _stopped(fake, ["A", "B", "C", "D"])  # type: ignore[arg-type]
    assert stopped == {"A": "TERMINATED", "C": "TIMED_OUT"}
