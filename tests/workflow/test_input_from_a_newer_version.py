"""A ticket input with a field this version does not know (a newer starter's or API's, during a
rolling deploy or after a rollback) is read without it: the ticket is answered, the field named.
It FAILED as invalid input before. A field that is wrong is still refused."""

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.view import TicketView
from tests.support.fake_batch import FakeBatch
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids, status
from tests.support.workers import fake_pipeline
from workflows.ticket_patches import (
    PATCH_IGNORE_UNKNOWN_INPUT_FIELDS,
    PATCH_INVALID_INPUT_TELLS_BATCH,
)
from workflows.ticket_request import parse_request

pytestmark = pytest.mark.usefixtures("replay_check")


def newer_input(ticket_id: str, **ticket: object) -> dict[str, object]:
    fields = {"ticket_id": ticket_id, "subject": "Refund", "body": "Please refund my order."}
    return {"ticket": {**fields, "order_id": "ORD-1", **ticket}, "routing_hint": "fast"}


async def test_a_ticket_with_a_field_of_a_newer_version_is_answered_and_the_field_named(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(), FakeTicketServices()
    ticket_id = f"T-new-{uuid.uuid4().hex[:6]}"
    async with fake_pipeline(
        ts_env.client,
        task_queue,
        agents.activities() + services.activities(),
        llm_queue=services.agent_queue,
    ):
        handle = await ts_env.client.start_workflow(
            names.TICKET_WORKFLOW,
            newer_input(ticket_id),
            id=names.ticket_workflow_id(ticket_id),
            task_queue=task_queue,
            result_type=TicketView,
        )
        result: TicketView = await handle.result()
        history = await handle.fetch_history()

    assert result.state is TicketState.COMPLETED
    assert result.ignored_input_fields == ["ticket.order_id"]  # the request itself ignores
    patches = [
        payload.data
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        for payload in e.marker_recorded_event_attributes.details["patch-data"].payloads
    ]
    assert any(PATCH_IGNORE_UNKNOWN_INPUT_FIELDS.encode() in data for data in patches), patches


async def test_a_wrong_field_beside_an_unknown_one_still_fails_the_ticket_naming_it(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    ticket_id = f"T-bad-{uuid.uuid4().hex[:6]}"
    async with fake_pipeline(ts_env.client, task_queue, []):
        handle = await ts_env.client.start_workflow(
            names.TICKET_WORKFLOW,
            newer_input(ticket_id, subject=""),
            id=names.ticket_workflow_id(ticket_id),
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        view = await status(handle)

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidTicket"
    assert "ticket.subject" in cause.message and view.state is TicketState.FAILED


def test_only_unknown_fields_are_left_out_and_a_versions_refusal_is_kept_for_its_histories() -> (
    None
):
    read = parse_request(newer_input("T-1"))
    assert read.request is not None and read.problem is None
    assert read.request.ticket.subject == "Refund"
    assert read.unknown_fields == ["ticket.order_id"]
    # What a version refusing unknown fields said: a history it recorded replays its refusal.
    assert read.strict_problem is not None and "ticket.order_id" in read.strict_problem

    wrong = parse_request(newer_input("T-1", body=""))
    assert wrong.request is None and wrong.problem is not None and "ticket.body" in wrong.problem
    assert parse_request({"ticket": "not a ticket"}).request is None


async def test_an_invalid_input_that_names_its_batch_tells_the_batch_it_failed(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    ticket_id = f"T-bad-{uuid.uuid4().hex[:6]}"
    batch_id = f"fake-batch-{uuid.uuid4().hex[:8]}"
    bad = newer_input(ticket_id, subject="") | {"batch_id": batch_id}
    # The fake batch is started by a client the replay check does not follow (no project
    # workflow: the replayer does not know it).
    unfollowed = Client(**(ts_env.client.config() | {"interceptors": []}))
    async with fake_pipeline(ts_env.client, task_queue, [], workflows=[FakeBatch]):
        batch = await unfollowed.start_workflow(FakeBatch.run, id=batch_id, task_queue=task_queue)
        handle = await ts_env.client.start_workflow(
            names.TICKET_WORKFLOW,
            bad,
            id=names.ticket_workflow_id(ticket_id),
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        told = await batch.result()
        history = await handle.fetch_history()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidTicket"
    # The batch frees the ticket's place now, not at its ten-minute check.
    assert told == [f"{ticket_id}:{TicketState.FAILED.value}"]
    assert PATCH_INVALID_INPUT_TELLS_BATCH in patch_ids(history.events)


@pytest.mark.parametrize("batch_id", ["", "b" * 1001], ids=["empty", "too-long"])
async def test_a_batch_id_no_workflow_can_have_fails_the_ticket_once_saying_so(
    ts_env: WorkflowEnvironment, task_queue: str, batch_id: str
) -> None:
    # Accepted, the ticket ran, and at its first rest the signal to that id was a command the
    # server refused: the workflow task failed for good (the answer already sent, or the review
    # never listed). A bad input fails once, with the reason, instead.
    ticket_id = f"T-batch-{uuid.uuid4().hex[:6]}"
    agents, services = FakeAgents(), FakeTicketServices()
    raw = {
        "ticket": {"ticket_id": ticket_id, "subject": "Refund", "body": "Please refund it."},
        "batch_id": batch_id,
    }
    async with fake_pipeline(
        ts_env.client, task_queue, agents.activities() + services.activities(), services.agent_queue
    ):
        handle = await ts_env.client.start_workflow(
            names.TICKET_WORKFLOW,
            raw,
            id=names.ticket_workflow_id(ticket_id),
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidTicket"
    assert "batch_id" in cause.message and "1 to 1,000 bytes" in cause.message
    assert services.deliveries == []
