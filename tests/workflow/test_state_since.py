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
from tests.replay.ticket_scenarios import SCENARIOS
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import states_upserted, wait_for_state
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import fake_pipeline, ticket_on_fakes

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_a_ticket_says_in_visibility_since_when_it_is_in_its_state(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(confidence=0.2), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        published = (await handle.describe()).typed_search_attributes
        since = published.get(sa.TICKET_STATE_SINCE)
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.REJECT, reason="no")
        )
        await handle.result()
        history = await handle.fetch_history()

    entered = waiting.transitions[-1]
    assert entered.to_state is TicketState.AWAITING_REVIEW
    assert since is not None and abs(since - entered.at) < timedelta(seconds=1)
    # What the agents found is published with the state the ticket waits in (since
    # stages-at-rest, not before: the review queue sorts and filters by them).
    assert waiting.category is not None and waiting.priority is not None
    assert published.get(sa.TICKET_CATEGORY) == waiting.category.value
    assert published.get(sa.TICKET_PRIORITY) == waiting.priority.value
    assert published.get(sa.TICKET_SLA_DEADLINE) == waiting.sla_deadline
    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    with_since = [fields for fields in upserts if sa.TICKET_STATE_SINCE.name in fields]
    assert with_since and all(sa.TICKET_STATE.name in fields for fields in with_since)
    assert len(with_since) == sum(sa.TICKET_STATE.name in fields for fields in upserts)


@pytest.mark.parametrize(
    ("scenario", "published"),
    [
        # The validator sent the first draft back once: NEW, CLASSIFIED, TRIAGED, RESOLVING,
        # RESOLVED, RESOLVING, RESOLVED, VALIDATED went by unpublished.
        ("completed", ["NEW", "COMPLETED"]),
        # Two revisions, a person's rework, then an edit: the rework's return to the agents is
        # published (it leaves the review queue); the agents' steps are not.
        (
            "reworked-then-edited",
            ["NEW", "AWAITING_REVIEW", "RESOLVING", "AWAITING_REVIEW", "COMPLETED"],
        ),
    ],
)
async def test_a_ticket_publishes_its_state_where_it_waits_not_between_agents(
    ts_env: WorkflowEnvironment, task_queue: str, scenario: str, published: list[str]
) -> None:
    """Each upsert is a history event and a billable action: a move from one agent state to
    another publishes nothing (the stages-at-rest version); the stage is in the status query."""
    make_agents, drive = SCENARIOS[scenario]
    agents, services = make_agents(), FakeTicketServices()
    async with fake_pipeline(
        ts_env.client,
        task_queue,
        agents.activities() + services.activities(),
        llm_queue=services.agent_queue,
    ):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        await drive(handle, ts_env)
        history = await handle.fetch_history()

    assert states_upserted(history.events) == published
