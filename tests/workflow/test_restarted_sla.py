"""A ticket started again after a run that ended without an answer keeps the SLA from when the
customer first wrote (sla-from-first-intake). Its deadline ran from the new run's start: an
Urgent ticket that failed in a long provider outage and was started again got another hour, was
not escalated, and sorted behind newer tickets in the review queue."""

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import operations as ops
from shared import search_attributes as sa
from shared.agents import Priority
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids, status, wait_for_state, wait_until
from tests.support.tickets import make_ticket
from tests.support.workers import fake_pipeline
from workflows.ticket_patches import PATCH_SLA_FROM_FIRST_INTAKE


@pytest.mark.usefixtures("replay_check")
async def test_a_ticket_started_again_keeps_the_sla_from_when_the_customer_first_wrote(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = ts_env.client
    ticket = make_ticket()
    handle = client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))
    down = ApplicationError("the provider is down", type="ProviderDown", non_retryable=True)
    first, services = FakeAgents(classify_failures=[down]), FakeTicketServices()
    queue = services.agent_queue
    async with fake_pipeline(
        client, task_queue, first.activities() + services.activities(), llm_queue=queue
    ):
        await ops.start_ticket(client, ticket, task_queue)
        run = client.get_workflow_handle(handle.id, run_id=(await handle.describe()).run_id)
        with pytest.raises(WorkflowFailureError):
            await run.result()
    first_run = await handle.describe()
    assert (await first_run.memo()).get(
        sa.MEMO_FIRST_INTAKE
    ) is None  # a first run has no earlier one

    await ts_env.sleep(timedelta(hours=2))  # the outage, fixed; then the ticket is started again
    again = FakeAgents(priority=Priority.URGENT)
    async with fake_pipeline(
        client, task_queue, again.activities() + services.activities(), llm_queue=queue
    ):
        outcome = await ops.start_ticket(client, ticket, task_queue)
        assert outcome.started
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        # Its deadline long past, it escalates at once.
        escalated = await wait_until(lambda: _escalated(handle), what="the escalation")
        second_run = await handle.describe()
        history = await handle.fetch_history()

    assert first_run.start_time is not None and second_run.start_time is not None
    assert (await second_run.memo())[sa.MEMO_FIRST_INTAKE] == first_run.start_time.isoformat()
    hours = services.config.sla_hours[Priority.URGENT]
    # From the first run's start, not the second's (two hours later): already past.
    assert waiting.sla_deadline == first_run.start_time + timedelta(hours=hours)
    assert waiting.sla_deadline < second_run.start_time
    assert PATCH_SLA_FROM_FIRST_INTAKE in patch_ids(history.events)
    assert escalated.escalated_at is not None and escalated.escalated_at >= second_run.start_time


async def _escalated(handle: WorkflowHandle[Any, Any]) -> TicketView | None:
    view = await status(handle)
    return view if view.escalated else None


@pytest.mark.usefixtures("replay_check")
@pytest.mark.parametrize("first_intake", ["0001-01-01T00:00:00+14:00", "1900-01-01T00:00:00+00:00"])
async def test_a_first_intake_no_starter_wrote_is_ignored_not_a_stuck_ticket(
    dev_env: WorkflowEnvironment, task_queue: str, first_intake: str
) -> None:
    # A review (2026-12-07): a memo's first intake in year 1 east of UTC does not convert to
    # UTC, and the business hours' arithmetic raised OverflowError in every workflow task: the
    # ticket stayed CLASSIFIED with no timer and no reason.
    from tests.replay.ticket_scenarios import WEEK_IN_BERLIN
    from tests.support.fakes import fake_routes_config
    from tests.support.workers import ticket_on_fakes

    services = FakeTicketServices(config=fake_routes_config(business_hours=WEEK_IN_BERLIN))
    memo = {sa.MEMO_FIRST_INTAKE: first_intake}
    async with ticket_on_fakes(
        dev_env.client, task_queue, FakeAgents(), services, make_ticket(), memo=memo
    ) as handle:
        view = await wait_for_state(handle, TicketState.COMPLETED.value)

    assert view.sla_deadline is not None and view.sla_deadline.year >= 2026
