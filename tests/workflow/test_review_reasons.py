"""Why a ticket waits for a person, in visibility: the TicketReviewReasons search attribute the
review queue reads without a worker (codes only, never words a model or a customer wrote)."""

from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import Priority
from shared.review import ReviewAction, ReviewDecision, ReviewReceipt
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import status, wait_for_state, wait_until
from tests.support.workers import ticket_on_fakes

pytestmark = pytest.mark.usefixtures("replay_check")


async def _review(handle: WorkflowHandle[Any, Any], **fields: Any) -> ReviewReceipt:
    return await handle.execute_update(
        names.SUBMIT_REVIEW_UPDATE, ReviewDecision(**fields), result_type=ReviewReceipt
    )


async def _reasons(handle: WorkflowHandle[Any, Any]) -> list[str] | None:
    return (await handle.describe()).typed_search_attributes.get(sa.TICKET_REVIEW_REASONS)


async def test_a_waiting_ticket_says_why_in_visibility_until_it_stops_waiting(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents = FakeAgents(confidence=0.2, priority=Priority.URGENT)
    services = FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        first = await _reasons(handle)
        await _review(handle, action=ReviewAction.REWORK, notes="Shorter, please.")

        async def back_in_review() -> TicketView | None:
            view = await status(handle)
            revised = view.draft is not None and view.draft.revision == 2
            return view if view.state is TicketState.AWAITING_REVIEW and revised else None

        reworked = await wait_until(back_in_review, what="the reworked draft back in review")
        second = await _reasons(handle)
        await _review(handle, action=ReviewAction.APPROVE, revision=2)
        result: TicketView = await handle.result()
        after = await _reasons(handle)
        history = await handle.fetch_history()

    assert waiting.review_reason_codes == first == ["low-confidence", "urgent"]
    assert reworked.review_reason_codes == second == ["low-confidence", "urgent", "reworked"]
    assert result.state is TicketState.COMPLETED and not after
    # Set and removed only in an upsert that changes the state too: no event of its own.
    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    with_reasons = [fields for fields in upserts if sa.TICKET_REVIEW_REASONS.name in fields]
    # Waiting, back to the resolver (removed), waiting again, completed (removed).
    assert len(with_reasons) == 4
    assert all(sa.TICKET_STATE.name in fields for fields in with_reasons)


async def test_a_ticket_that_needs_no_review_never_carries_reasons(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        result: TicketView = await handle.result()
        history = await handle.fetch_history()

    assert result.state is TicketState.COMPLETED and result.review_reason_codes == []
    assert not any(
        sa.TICKET_REVIEW_REASONS.name
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in history.events
    )
