"""The whole pipeline with the real offline activities in the time-skipping environment."""

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.tickets import Ticket
from shared.view import TicketRequest, TicketView
from tests.support.temporal import wait_for_state
from tests.support.workers import real_pipeline

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_a_clear_password_question_is_answered_and_delivered_once(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    ticket = Ticket(
        ticket_id="PW-1",
        subject="Forgot my password",
        body="I forgot my password and the reset e-mail never arrived. How do I reset it?",
    )
    async with real_pipeline(ts_env.client, task_queue, tmp_path):
        result = await ts_env.client.execute_workflow(
            names.TICKET_WORKFLOW,
            TicketRequest(ticket=ticket),
            id=names.ticket_workflow_id(ticket.ticket_id),
            task_queue=task_queue,
            result_type=TicketView,
        )
    assert result.state is TicketState.COMPLETED
    assert result.category == "Account"
    assert result.draft is not None and "Forgot password" in result.draft.text
    assert result.delivery is not None and result.delivery.location.endswith("#PW-1")
    assert [t.to_state for t in result.transitions] == [
        "NEW", "CLASSIFIED", "TRIAGED", "RESOLVING", "RESOLVED", "VALIDATED", "COMPLETED",
    ]
    assert set(result.usage) == {"classifier", "triage", "resolver", "validator"}
