"""`list`, `report` and the API's ticket pages after a ticket ran again (a redrive resets it into a
new run; a FAILED ticket restarts as one): each ticket once, its newest run, and under a state
only when that newest run is in it. On the real dev server, with a real reset."""

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    ResetWorkflowExecutionRequest,
)
from temporalio.client import WorkflowExecutionStatus

from policy.transitions import TicketState
from shared import names
from shared import report as reports
from shared import ticket_listing as listing
from tests.ops.conftest import OpsServer
from tests.support.processes import run_cli
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import real_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

RUN = uuid.uuid4().hex[:6]


@dataclass
class RanAgain:
    since: datetime
    redriven: str  # ticket id: COMPLETED, then reset into a new run that has not finished
    other: str  # ticket id: COMPLETED once
    old_run: str
    new_run: str


@pytest.fixture(scope="module")
async def ran_again(ops_server: OpsServer) -> AsyncIterator[RanAgain]:
    client = ops_server.client
    since = datetime.now(UTC) - timedelta(seconds=1)
    redriven = make_ticket(ticket_id=f"LR-{RUN}-again")
    other = make_ticket(ticket_id=f"LR-{RUN}-once")
    async with real_pipeline(client, names.TICKETS_TASK_QUEUE, ops_server.data_dir):
        handles = [
            await start_ticket(client, names.TICKETS_TASK_QUEUE, t) for t in (redriven, other)
        ]
        for handle in handles:
            assert (await handle.result()).state == TicketState.COMPLETED
    # No worker now: the new run stays running, in the state its first workflow task set.
    old = handles[0]
    history = await old.fetch_history()
    first_task = next(
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    reset = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=old.id, run_id=old.result_run_id),
            reason="test: a second run, as a redrive makes",
            workflow_task_finish_event_id=first_task,
            request_id=str(uuid.uuid4()),
        )
    )
    ran = RanAgain(
        since, redriven.ticket_id, other.ticket_id, old.result_run_id or "", reset.run_id
    )

    async def both_runs_listed() -> bool:
        query = f"WorkflowId = '{old.id}'"
        runs = {e.run_id: e.status async for e in client.list_workflows(query)}
        return runs.get(ran.new_run) == WorkflowExecutionStatus.RUNNING and ran.old_run in runs

    await wait_until(both_runs_listed, timeout=30, interval=0.2, what="both runs in visibility")
    try:
        yield ran
    finally:
        # The other operations tests look at every workflow of the namespace.
        await client.get_workflow_handle(old.id).terminate("test over")
        for workflow_id, run_id in [
            (old.id, ran.old_run),
            (old.id, ran.new_run),
            (handles[1].id, handles[1].result_run_id),
        ]:
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                )
            )


def ours(ran: RanAgain, ticket_ids: list[str]) -> Counter[str]:
    return Counter(t for t in ticket_ids if t in (ran.redriven, ran.other))


async def test_list_shows_each_ticket_once_as_its_newest_run(
    ops_server: OpsServer, ran_again: RanAgain
) -> None:
    listed = await listing.list_tickets(ops_server.client, since=ran_again.since)

    assert ours(ran_again, [t.ticket_id for t in listed]) == {
        ran_again.redriven: 1,
        ran_again.other: 1,
    }
    again = next(t for t in listed if t.ticket_id == ran_again.redriven)
    assert again.workflow_status == WorkflowExecutionStatus.RUNNING.name
    assert again.state != TicketState.COMPLETED


async def test_a_ticket_whose_new_run_left_a_state_is_not_listed_under_it(
    ops_server: OpsServer, ran_again: RanAgain
) -> None:
    completed = await listing.list_tickets(
        ops_server.client, TicketState.COMPLETED, since=ran_again.since
    )

    assert ours(ran_again, [t.ticket_id for t in completed]) == {ran_again.other: 1}


async def test_the_report_counts_a_ticket_that_ran_again_once(
    ops_server: OpsServer, ran_again: RanAgain
) -> None:
    read = await listing.report_tickets(ops_server.client, ran_again.since)
    mine = [t for t in read.tickets if t.ticket_id in (ran_again.redriven, ran_again.other)]
    report = reports.build_report(mine)

    assert report.total == 2
    assert report.by_state.get(TicketState.COMPLETED) == 1
    # The usage of the redriven ticket's old run is not added to its new run's.
    assert report.tokens == sum(t.tokens for t in mine)
    assert ours(ran_again, [t.ticket_id for t in read.tickets]) == {
        ran_again.redriven: 1,
        ran_again.other: 1,
    }


async def test_api_pages_leave_out_replaced_runs_on_any_page(
    ops_server: OpsServer, ran_again: RanAgain
) -> None:
    client = ops_server.client
    completed_query = listing.ticket_query(TicketState.COMPLETED, since=ran_again.since)
    completed, _ = await listing.ticket_page(client, completed_query, page_size=200)
    # Pages of one: the new run is on one page, the old run on a later one.
    seen: list[str] = []
    token: bytes | None = None
    while True:
        page, token = await listing.ticket_page(
            client, listing.ticket_query(since=ran_again.since), 1, token
        )
        seen += [t.ticket_id for t in page]
        if token is None:
            break

    assert ours(ran_again, [t.ticket_id for t in completed]) == {ran_again.other: 1}
    assert ours(ran_again, seen) == {ran_again.redriven: 1, ran_again.other: 1}


def test_list_reads_a_default_limit_and_says_when_more_exist(
    ops_server: OpsServer, ran_again: RanAgain
) -> None:
    limited = run_cli(ops_server.env, "list", "--limit", "1")
    everything = run_cli(ops_server.env, "list", "--limit", "10000")

    assert limited.code == 0, limited.output
    assert "Tickets (1)" in limited.stdout
    assert "More tickets exist: these are the first 1 in the server's order" in limited.stdout
    assert everything.code == 0, everything.output
    assert "More tickets exist" not in everything.output
