"""Reviews that arrive at the wrong moment, malformed signals, cancellation, ledger conflicts."""

import asyncio

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import AgentRole, AgentRoute, Priority
from shared.pipeline_config import PipelineConfig
from shared.review import ReviewAction, ReviewDecision
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import status, wait_for_state, wait_until
from tests.support.tickets import make_ticket
from tests.support.workers import ticket_on_fakes

pytestmark = pytest.mark.usefixtures("replay_check")


async def _review(handle, **fields):  # type: ignore[no-untyped-def]
    return await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, ReviewDecision(**fields))


async def test_a_second_review_while_the_first_is_being_delivered_is_refused(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    gate = asyncio.Event()
    agents = FakeAgents(priority=Priority.URGENT)
    services = FakeTicketServices(deliver_gate=gate)
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await _review(handle, action=ReviewAction.APPROVE, reviewer="ana")
        await asyncio.wait_for(services.deliver_entered.wait(), timeout=10)
        # The queued delivery holds: the ticket reads DELIVERING, out of the review queue.
        delivering = await wait_for_state(handle, TicketState.DELIVERING)
        attrs = (await handle.describe()).typed_search_attributes

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await _review(handle, action=ReviewAction.REJECT, reviewer="bob", reason="late")
        await handle.signal(names.REVIEW_SIGNAL, {"action": "reject", "reason": "also late"})
        await wait_until(lambda: _reviews_count(handle, 2), what="the late signal recorded")
        gate.set()
        result: TicketView = await handle.result()

    assert attrs.get(sa.TICKET_STATE) == TicketState.DELIVERING
    assert delivering.transitions[-1].from_state is TicketState.AWAITING_REVIEW
    assert "failed for now" in delivering.transitions[-1].reason
    assert "is DELIVERING, not awaiting review" in str(refused.value.cause)
    assert result.state is TicketState.COMPLETED
    assert [t.to_state for t in result.transitions][-3:] == [
        TicketState.AWAITING_REVIEW,
        TicketState.DELIVERING,
        TicketState.COMPLETED,
    ]
    assert result.transitions[-1].agent == "reviewer:ana"
    assert [(r.decision.reviewer, r.applied) for r in result.reviews if r.decision] == [
        ("ana", True),
        ("operator:reviewer", False),
    ]


async def test_a_malformed_review_signal_is_recorded_as_ignored_with_the_reason(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await handle.signal(names.REVIEW_SIGNAL, {"action": "edit", "reviewer": "ui"})
        reviews = await wait_until(lambda: _reviews_count(handle, 1), what="the ignored signal")
        await _review(handle, action=ReviewAction.APPROVE)
        await handle.result()

    assert reviews[0].applied is False and reviews[0].decision is None
    assert reviews[0].raw_excerpt == '{"action": "edit", "reviewer": "ui"}'
    assert "an edit needs the new text" in reviews[0].note


# Its own server is set up before replay_check, which replays on it.
@pytest.mark.usefixtures("private_ts_env")
async def test_cancelling_a_ticket_mid_call_cancels_it_instead_of_falling_back_or_failing(
    private_ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The resolver is still running when the ticket closes: that locks the test server's time
    # for good, so this test has a server of its own (tests/conftest.py, private_ts_env).
    gate = asyncio.Event()
    agents = FakeAgents(resolver_gate=gate)
    services = FakeTicketServices()
    route = services.config.routes[AgentRole.RESOLVER][0]
    services.config = PipelineConfig(
        routes=services.config.routes
        | {AgentRole.RESOLVER: [route, AgentRoute(provider=route.provider, model="backup")]}
    )
    async with ticket_on_fakes(private_ts_env.client, task_queue, agents, services) as handle:
        await asyncio.wait_for(agents.resolver_entered.wait(), timeout=10)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as ended:
            await handle.result()
        gate.set()
        view = await status(handle)
        attrs = (await handle.describe()).typed_search_attributes

    assert isinstance(ended.value.cause, CancelledError)
    assert view.state is TicketState.CANCELLED and view.fallbacks == []
    assert attrs.get(sa.TICKET_STATE) == TicketState.CANCELLED
    assert services.deliveries == []


async def test_cancelling_a_ticket_that_waits_for_review_leaves_it_cancelled_not_waiting(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.TICKET_STATE) == TicketState.CANCELLED


async def test_a_ledger_that_already_held_another_revision_is_reported_not_hidden(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(), FakeTicketServices(ledger_holds=(7, "An older answer."))
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        result: TicketView = await handle.result()
    assert result.state is TicketState.COMPLETED
    assert "NOT delivered: the ledger already held revision 7" in result.transitions[-1].reason


async def test_a_reset_ticket_whose_new_revision_1_has_another_text_is_not_reported_delivered(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The revision numbers match, the texts do not: the customer got the first run's text."""
    agents, services = FakeAgents(), FakeTicketServices(ledger_holds=(1, "The first run's text."))
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        result: TicketView = await handle.result()
    assert result.draft is not None and result.draft.revision == 1
    assert "NOT delivered: the ledger already held revision 1" in result.transitions[-1].reason
    assert "revision 1 was not sent" in result.transitions[-1].reason


async def test_a_ledger_holding_this_very_text_reports_it_delivered(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    ticket = make_ticket()
    same = f"Reply to {ticket.ticket_id}, revision 1."  # what FakeAgents drafts for revision 1
    agents, services = FakeAgents(), FakeTicketServices(ledger_holds=(1, same))
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services, ticket) as handle:
        result: TicketView = await handle.result()
    assert result.state is TicketState.COMPLETED
    assert result.transitions[-1].reason.endswith("; delivered revision 1")
    assert "fake-ledger" not in result.transitions[-1].reason  # where the ledger keeps it
    assert "NOT" not in result.transitions[-1].reason


async def _reviews_count(handle, n):  # type: ignore[no-untyped-def]
    reviews = (await status(handle)).reviews
    return reviews if len(reviews) >= n else None
