"""TicketStateSince says when a ticket entered its state (the stalled-tickets gauge counts by
it), set in the upserts that change the state: no event of its own."""

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.review import ReviewAction, ReviewDecision
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import wait_for_state
from tests.support.workers import ticket_on_fakes

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_a_ticket_says_in_visibility_since_when_it_is_in_its_state(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(confidence=0.2), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        since = (await handle.describe()).typed_search_attributes.get(sa.TICKET_STATE_SINCE)
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.REJECT, reason="no")
        )
        await handle.result()
        history = await handle.fetch_history()

    entered = waiting.transitions[-1]
    assert entered.to_state is TicketState.AWAITING_REVIEW
    assert since is not None and abs(since - entered.at) < timedelta(seconds=1)
    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    with_since = [fields for fields in upserts if sa.TICKET_STATE_SINCE.name in fields]
    assert with_since and all(sa.TICKET_STATE.name in fields for fields in with_since)
    assert len(with_since) == sum(sa.TICKET_STATE.name in fields for fields in upserts)
