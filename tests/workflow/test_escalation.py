"""SLA deadlines and escalation, proven with the time-skipping server instead of waiting hours."""

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import Priority
from shared.review import ReviewAction, ReviewDecision
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import status, wait_for_state, wait_until
from tests.support.workers import ticket_on_fakes

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_an_urgent_ticket_nobody_reviews_escalates_at_its_deadline_and_keeps_waiting(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        triaged_at = next(t.at for t in waiting.transitions if t.to_state is TicketState.TRIAGED)
        assert waiting.sla_deadline == triaged_at + timedelta(hours=1)
        assert not waiting.escalated

        await ts_env.sleep(timedelta(hours=2))
        escalated = await wait_until(
            lambda: _escalated(handle), what="escalation after the SLA deadline"
        )
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.TICKET_ESCALATED) is True
        assert attrs.get(sa.TICKET_STATE) == TicketState.AWAITING_REVIEW

        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.APPROVE)
        )
        result: TicketView = await handle.result()

    assert escalated.state is TicketState.AWAITING_REVIEW
    assert escalated.escalated_at is not None and escalated.escalated_at >= waiting.sla_deadline
    assert result.state is TicketState.COMPLETED and result.escalated


async def test_a_low_priority_ticket_is_not_escalated_before_its_72_hour_deadline(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.LOW, confidence=0.3), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)

        await ts_env.sleep(timedelta(hours=70))
        # A query is answered after the timer events that are due: 70 hours fire none.
        assert not (await status(handle)).escalated

        await ts_env.sleep(timedelta(hours=3))
        view = await wait_until(lambda: _escalated(handle), what="escalation after 72 hours")
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE,
            ReviewDecision(action=ReviewAction.REJECT, reason="test over"),
        )
        await handle.result()

    assert view.escalated and view.state is TicketState.AWAITING_REVIEW


async def _escalated(handle):  # type: ignore[no-untyped-def]
    view = await status(handle)
    return view if view.escalated else None
