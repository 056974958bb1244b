"""SLA deadlines and escalation, proven with the time-skipping server instead of waiting hours."""

from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import Priority
from shared.pipeline_config import ReviewPolicyConfig
from shared.review import ReviewAction, ReviewDecision
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices, fake_routes_config
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


async def test_a_ticket_nobody_reviews_escalates_then_closes_unanswered_at_its_final_deadline(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    config = fake_routes_config(review=ReviewPolicyConfig(final_deadline_hours=80))
    agents = FakeAgents(priority=Priority.URGENT)
    services = FakeTicketServices(config=config)
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        began = waiting.transitions[-1].at
        assert waiting.review_closes_at == began + timedelta(hours=80)

        await ts_env.sleep(timedelta(hours=2))
        await wait_until(lambda: _escalated(handle), what="escalation after the SLA deadline")
        await ts_env.sleep(timedelta(hours=70))
        # Escalated, 72 hours in: still waiting for a person.
        assert (await status(handle)).state is TicketState.AWAITING_REVIEW

        result: TicketView = await handle.result()  # the server skips to the final deadline
        attrs = (await handle.describe()).typed_search_attributes

    closed = result.transitions[-1]
    assert result.state is TicketState.UNANSWERED and result.escalated
    assert closed.from_state is TicketState.AWAITING_REVIEW and closed.agent == "policy"
    # At the deadline (the timer starts a few milliseconds after it is computed).
    assert timedelta(0) <= closed.at - (began + timedelta(hours=80)) < timedelta(minutes=1)
    assert "nobody reviewed the ticket within 80 hours" in closed.reason
    assert result.review_closes_at is None  # shown while it waited only
    assert services.deliveries == []
    assert attrs.get(sa.TICKET_STATE) == TicketState.UNANSWERED


async def test_a_review_before_the_final_deadline_is_applied_and_the_deadline_is_gone(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    config = fake_routes_config(review=ReviewPolicyConfig(final_deadline_hours=80))
    agents = FakeAgents(priority=Priority.URGENT)
    services = FakeTicketServices(config=config)
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await ts_env.sleep(timedelta(hours=79))
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.APPROVE, revision=1)
        )
        result: TicketView = await handle.result()

    assert result.state is TicketState.COMPLETED and len(services.deliveries) == 1
    assert result.review_closes_at is None


async def test_the_sla_runs_from_when_the_ticket_came_in_not_from_a_late_triage(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The classifier is rate limited for two hours: the Urgent ticket's hour was over before
    # triage, which once gave it a deadline three hours after the customer wrote.
    slow = ApplicationError("429", type="RateLimited", next_retry_delay=timedelta(hours=2))
    agents = FakeAgents(priority=Priority.URGENT, classify_failures=[slow])
    services = FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_until(lambda: _classified_once(agents), what="the first classifier attempt")
        await ts_env.sleep(timedelta(hours=2, minutes=1))
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        escalated = await wait_until(lambda: _escalated(handle), what="escalation at once")
        started = (await handle.describe()).start_time
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.REJECT, reason="over")
        )
        await handle.result()
        history = await handle.fetch_history()

    # From the start (the workflow's own start time is the first task's, milliseconds later).
    assert waiting.sla_deadline is not None
    assert abs(waiting.sla_deadline - (started + timedelta(hours=1))) < timedelta(seconds=5)
    assert escalated.escalated
    # The drafts' calls may still retry for the SLA's length from triage, not the least window
    # a deadline already past leaves (a short rate-limit spell would have failed the ticket).
    windows = [
        e.activity_task_scheduled_event_attributes.schedule_to_close_timeout.ToTimedelta()
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == names.DRAFT_RESOLUTION
    ]
    assert windows and all(w > timedelta(minutes=50) for w in windows), windows


async def _classified_once(agents: FakeAgents) -> bool | None:
    return agents.classify_attempts >= 1 or None
