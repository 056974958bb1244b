"""The whole pipeline with the real offline activities in the time-skipping environment."""

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from policy.transitions import SETTLED_STATES, TicketState
from shared import names
from shared.tickets import Ticket
from shared.view import TicketRequest, TicketView
from tests.support.temporal import wait_for_state
from tests.support.workers import real_pipeline

pytestmark = pytest.mark.usefixtures("replay_check")

SETTLED = tuple(SETTLED_STATES)


async def test_a_clear_password_question_is_answered_and_delivered_once(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    ticket = Ticket(
        ticket_id="PW-1",
        subject="Forgot my password",
        body="I forgot my password and the reset e-mail never arrived. How do I reset it?",
    )
    async with real_pipeline(ts_env.client, task_queue, tmp_path):
        result = await ts_env.client.execute_workflow(
            names.TICKET_WORKFLOW,
            TicketRequest(ticket=ticket),
            id=names.ticket_workflow_id(ticket.ticket_id),
            task_queue=task_queue,
            result_type=TicketView,
        )
    assert result.state is TicketState.COMPLETED
    assert result.category == "Account"
    assert result.draft is not None and "Forgot password" in result.draft.text
    assert result.delivery is not None and result.delivery.location.endswith("#PW-1")
    assert [t.to_state for t in result.transitions] == [
        "NEW",
        "CLASSIFIED",
        "TRIAGED",
        "RESOLVING",
        "RESOLVED",
        "VALIDATED",
        "COMPLETED",
    ]
    assert set(result.usage) == {"classifier", "triage", "resolver", "validator"}


async def test_the_bundled_samples_cover_every_category_and_priority_and_some_need_a_person(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    from activities.outbox import Outbox
    from shared.agents import Category, Priority
    from starter.inputs import read_jsonl
    from tests.support.tickets import start_ticket

    parsed, errors = read_jsonl(Path(__file__).resolve().parents[2] / "samples" / "tickets.jsonl")
    assert errors == [] and len(parsed) >= 30
    async with real_pipeline(ts_env.client, task_queue, tmp_path):
        handles = [await start_ticket(ts_env.client, task_queue, p.ticket) for p in parsed]
        views = [await wait_for_state(h, *SETTLED) for h in handles]

    assert {v.category for v in views} == set(Category)
    assert {v.priority for v in views} == set(Priority)
    waiting = [v for v in views if v.state is TicketState.AWAITING_REVIEW]
    assert len(waiting) >= 3 and all(v.review_reasons for v in waiting)
    completed = [v for v in views if v.state is TicketState.COMPLETED]
    assert len(completed) + len(waiting) == len(views)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    assert await outbox.count() == len(completed)
    for view in completed:
        assert view.delivery is not None and await outbox.count(view.ticket_id) == 1
        assert view.draft is not None and view.draft.cited_articles
    revised = [v for v in views if v.revision_rounds > 0]
    assert revised, "at least one sample exercises the validator's revision loop"
