"""No input grows a ticket without bound, and a bad input fails a ticket once, visibly: review
signals that do not parse are kept as short excerpts and only so many are kept; oversized or
malformed updates are refused; a ticket started with an invalid input fails with the field named
instead of retrying its workflow task for ever."""

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.agents import Priority
from shared.review import ReviewAction, ReviewDecision
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import status, wait_for_state, wait_until
from tests.support.workers import fake_pipeline, ticket_on_fakes
from workflows.review_gate import MAX_IGNORED_REVIEWS_KEPT, MAX_RAW_EXCERPT_CHARS

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_oversized_and_malformed_review_signals_are_kept_short_and_few(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        # Parses as JSON but is no review, with a 100,000-character field riding along.
        await handle.signal(names.REVIEW_SIGNAL, {"action": "edit", "padding": "p" * 100_000})
        # A review whose notes are longer than a review may carry.
        await handle.signal(names.REVIEW_SIGNAL, {"action": "rework", "notes": "n" * 10_000})
        for i in range(MAX_IGNORED_REVIEWS_KEPT + 10):
            await handle.signal(names.REVIEW_SIGNAL, f"not a review {i}")
        view = await wait_until(
            lambda: _with_dropped(handle, 12), what="every signal counted", timeout=30
        )
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.APPROVE)
        )
        result: TicketView = await handle.result()

    ignored = [r for r in view.reviews if not r.applied]
    assert len(ignored) == MAX_IGNORED_REVIEWS_KEPT
    assert view.ignored_reviews_dropped == 12
    first, second = ignored[0], ignored[1]
    assert first.raw_excerpt is not None and first.raw_excerpt.startswith('{"action": "edit"')
    assert len(first.raw_excerpt) < MAX_RAW_EXCERPT_CHARS + 40
    assert "(100,0" in first.raw_excerpt  # says how long the whole was
    assert "notes" in second.note and second.raw_excerpt is not None
    assert result.state is TicketState.COMPLETED
    assert len(result.model_dump_json()) < 40_000


async def _with_dropped(handle, count: int) -> TicketView | None:  # type: ignore[no-untyped-def]
    view = await status(handle)
    return view if view.ignored_reviews_dropped >= count else None


async def test_oversized_and_malformed_review_updates_are_refused_and_the_ticket_goes_on(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        refusals = []
        for bad in (
            {"action": "edit", "edited_text": "e" * 9_000},  # longer than a reply may be
            {"action": "approve", "revision": "first"},  # not a number
            ["not", "an", "object"],
        ):
            with pytest.raises((WorkflowUpdateFailedError, RPCError)) as refused:
                await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, bad)
            refusals.append(refused.value)
        view = await status(handle)
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.APPROVE)
        )
        result: TicketView = await handle.result()

    assert len(refusals) == 3
    assert view.state is TicketState.AWAITING_REVIEW and view.reviews == []
    assert result.state is TicketState.COMPLETED
    history = await handle.fetch_history()
    assert "e" * 9_000 not in history.to_json()  # a refused update leaves no trace


async def test_a_ticket_started_with_an_invalid_input_fails_once_naming_the_fields(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    workflow_id = f"ticket-T-bad-{uuid.uuid4().hex[:6]}"
    secret_body = "private words " * 2_000  # 28,000 characters: over the body limit
    bad = {"ticket": {"ticket_id": "T-bad", "subject": "", "body": secret_body}}
    async with fake_pipeline(ts_env.client, task_queue, []):
        handle = await ts_env.client.start_workflow(
            names.TICKET_WORKFLOW, bad, id=workflow_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        view = await status(handle)

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidTicket"
    assert cause.non_retryable
    assert "ticket.subject" in cause.message and "ticket.body" in cause.message
    assert "private words" not in cause.message
    assert view.state is TicketState.FAILED and view.failure is not None
    events = [e.event_type for e in (await handle.fetch_history()).events]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events
    assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    assert view.ticket_id == workflow_id.removeprefix("ticket-")
