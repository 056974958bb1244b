"""`redrive --state UNANSWERED`: a ticket nobody reviewed by its final deadline (nothing was sent)
starts again from its input and waits for review again; it could only be answered by hand.

On the dev server (the redrive lists candidates from visibility), with a configuration whose
SLA and final review deadline are seconds, so the ticket closes UNANSWERED in real time."""

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import operations as ops
from shared.agents import Category, Priority
from shared.pipeline_config import PipelineConfig, ReviewPolicyConfig
from shared.stores.sqlite_ledger import SqliteLedger
from shared.view import TicketView
from starter import redrive
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket
from tests.support.workers import real_pipeline

pytestmark = pytest.mark.integration

# Every ticket goes to a person (sensitive categories), is past its SLA at once, and closes
# UNANSWERED four seconds into its wait.
SECONDS = 1 / 3600
CONFIG = PipelineConfig(
    sla_hours=dict.fromkeys(Priority, SECONDS / 4),
    review=ReviewPolicyConfig(
        sensitive_categories=list(Category), final_deadline_hours=4 * SECONDS
    ),
)


async def test_an_unanswered_ticket_starts_again_and_waits_for_review_again(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    client = dev_env.client
    ticket = make_ticket(subject="Nobody looked at this one")
    ledger = SqliteLedger(tmp_path / "outbox.sqlite3")
    async with real_pipeline(client, task_queue, tmp_path, config=CONFIG):
        await ops.start_ticket(client, ticket, task_queue)
        handle = client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))
        first_run = (await handle.describe()).run_id
        closed = await wait_until(
            lambda: _closed_unanswered(client, ticket.ticket_id), timeout=60, what="unanswered"
        )
        assert closed

        async def planned() -> redrive.RedriveReport | None:
            report = await redrive.plan(
                client, ledger, TicketState.UNANSWERED, timedelta(hours=1), 1_000
            )
            return report if any(t.ticket_id == ticket.ticket_id for t in report.tickets) else None

        report = await wait_until(planned, timeout=30, what="the ticket listed as UNANSWERED")
        [item] = [t for t in report.tickets if t.ticket_id == ticket.ticket_id]
        assert (item.action, report.applied) == ("restart", False)
        assert "a new draft, to be reviewed again" in item.why
        assert (await handle.describe()).run_id == first_run  # a dry run changes nothing

        await redrive.apply(client, ledger, report)
        assert item.error is None and item.new_run_id not in (None, first_run)
        # The new run is the ticket again, in the review queue (until its own final deadline).
        await wait_until(
            lambda: _state_of_run(client, handle.id, item.new_run_id),
            timeout=60,
            what="the restarted ticket waiting for review",
        )
        first = await client.get_workflow_handle(handle.id, run_id=first_run).describe()
        assert first.status is WorkflowExecutionStatus.COMPLETED

        again = await redrive.plan(
            client, ledger, TicketState.UNANSWERED, timedelta(hours=1), 1_000
        )
        repeat = [t for t in again.tickets if t.ticket_id == ticket.ticket_id]
        assert all(t.action == "skip" and "redriven before" in t.why for t in repeat)
        await client.get_workflow_handle(handle.id).terminate("the test is over")


async def _closed_unanswered(client: Client, ticket_id: str) -> bool:
    summary = await ops.describe_ticket(client, ticket_id)
    return summary.workflow_status == "COMPLETED" and summary.state == TicketState.UNANSWERED


async def _state_of_run(client: Client, workflow_id: str, run_id: str | None) -> bool:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    view = await handle.query(names.STATUS_QUERY, result_type=TicketView)
    return view.state in (TicketState.AWAITING_REVIEW, TicketState.UNANSWERED) and bool(view.draft)
