"""A batch, swarm or orchestrator run started by a program other than the CLI with an input its
model refuses fails at once, non-retryable, naming each field and its problem and never the
value. The data converter refused such an input before the workflow's code ran, which failed the
first workflow task on every attempt: the run stayed open for ever with nothing done."""

import uuid
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import names
from shared.orchestration import MAX_TASK_CHARS
from shared.tickets import Ticket
from shared.view import TicketRequest
from tests.support.workers import running
from workflows import ALL_WORKFLOWS
from workflows.batch import BatchWorkflow
from workflows.orchestrator import OrchestratorWorkflow
from workflows.started_input import INVALID_INPUT
from workflows.swarm import SwarmWorkflow
from workflows.ticket import TicketWorkflow

# Customer text in a field that is refused: the failure must not quote it.
PRIVATE = "Ana Lima, card 4111 1111 1111 1111 "
TICKET = {"subject": "refund", "body": "I was charged twice"}

CASES: list[tuple[str, list[Any], str]] = [
    (
        names.BATCH_WORKFLOW,
        [[TICKET], {"settings": {"window": 0}}],
        "the batch input is not valid: state: settings.window: Input should be greater than or "
        "equal to 1",
    ),
    (
        names.BATCH_WORKFLOW,
        [{"subject": PRIVATE}, {"fairness_keys": {"t1": 5}, "position": -1}],
        "the batch input is not valid: tickets: should be a list, not an object; state: "
        "position: Input should be greater than or equal to 0; fairness_keys.t1: Input should "
        "be a valid string",
    ),
    (
        names.SWARM_WORKFLOW,
        [[{"item_id": "r1", "text": "works well"}], {"settings": {"concurrency": 501}}],
        "the swarm input is not valid: state: settings.concurrency: Input should be less than "
        "or equal to 500",
    ),
    (
        names.SWARM_WORKFLOW,
        [PRIVATE, {}],
        "the swarm input is not valid: items: should be a list, not a string",
    ),
    # An argument left out was a TypeError in the SDK: the same first task failing for ever.
    (
        names.BATCH_WORKFLOW,
        [[TICKET]],
        "the batch input is not valid: state: missing",
    ),
    (
        names.BATCH_WORKFLOW,
        [[TICKET], None],
        "the batch input is not valid: state: should be an object, not null",
    ),
    (
        names.SWARM_WORKFLOW,
        [],
        "the swarm input is not valid: items: should be a list, not null; state: missing",
    ),
    (
        names.ORCHESTRATOR_WORKFLOW,
        [],
        "the orchestrator input is not valid: request: Input should be a valid dictionary or "
        "instance of OrchestratorInput",
    ),
    (
        names.ORCHESTRATOR_WORKFLOW,
        [{"task": PRIVATE * (MAX_TASK_CHARS // len(PRIVATE) + 1)}],
        f"the orchestrator input is not valid: request: task: String should have at most "
        f"{MAX_TASK_CHARS} characters",
    ),
    # An argument more than the workflow takes was a TypeError in the SDK too (it calls
    # __init__ with every argument sent), the first task failing for ever. Valid otherwise.
    (
        names.BATCH_WORKFLOW,
        [[TICKET], {}, {"window": 5}],
        "the batch input is not valid: arguments: the workflow takes two: the tickets and the "
        "batch's state; 1 more was given",
    ),
    (
        names.SWARM_WORKFLOW,
        [[{"item_id": "r1", "text": "works well"}], {}, PRIVATE, 3],
        "the swarm input is not valid: arguments: the workflow takes two: the items and the "
        "swarm's state; 2 more were given",
    ),
    (
        names.ORCHESTRATOR_WORKFLOW,
        [{"task": "summarise the refund policy"}, PRIVATE],
        "the orchestrator input is not valid: arguments: the workflow takes one: the request; "
        "1 more was given",
    ),
]


@pytest.mark.usefixtures("replay_check")
@pytest.mark.parametrize(
    ("workflow", "args", "reason"),
    CASES,
    ids=[
        "batch-settings",
        "batch-tickets-and-state",
        "swarm-settings",
        "swarm-items",
        "batch-no-state",
        "batch-null-state",
        "swarm-no-arguments",
        "plan-no-argument",
        "plan",
        "batch-extra-argument",
        "swarm-extra-arguments",
        "plan-extra-argument",
    ],
)
async def test_an_input_the_model_refuses_fails_the_run_at_once_naming_the_fields(
    ts_env: WorkflowEnvironment, task_queue: str, workflow: str, args: list[Any], reason: str
) -> None:
    worker = Worker(ts_env.client, task_queue=task_queue, workflows=ALL_WORKFLOWS)
    async with running([worker]):
        handle = await ts_env.client.start_workflow(
            workflow, args=args, id=f"refused-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        history = await handle.fetch_history()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable, cause.message) == (INVALID_INPUT, True, reason)
    assert cause.cause is None  # pydantic's own error, which quotes the input, is not attached
    assert "Ana" not in str(failed.value) and "4111" not in str(failed.value)
    kinds = [event.event_type for event in history.events]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    # Nothing was started or called before the refusal.
    assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1
    assert len(kinds) == 5  # started, task scheduled, started, completed, failed


def _ticket_arguments(ticket_id: str, kind: str) -> list[Any]:
    request = TicketRequest(ticket=Ticket(ticket_id=ticket_id, **TICKET)).model_dump(mode="json")
    return [] if kind == "none" else [request, PRIVATE]


@pytest.mark.usefixtures("replay_check")
@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        # A TypeError in the SDK before: its first workflow task failed for ever.
        ("none", "invalid ticket input: input: Input should be a valid dictionary"),
        # The same (the SDK calls __init__ with every argument). The request itself is valid:
        # the ticket fails under its own id.
        (
            "one more",
            "invalid ticket input: arguments: the workflow takes one: the ticket request; 1 "
            "more was given",
        ),
    ],
)
async def test_a_ticket_started_with_no_argument_or_one_too_many_fails_as_an_invalid_ticket(
    ts_env: WorkflowEnvironment, task_queue: str, kind: str, reason: str
) -> None:
    ticket_id = f"T-ARGS-{uuid.uuid4().hex[:6]}"
    worker = Worker(ts_env.client, task_queue=task_queue, workflows=ALL_WORKFLOWS)
    async with running([worker]):
        handle = await ts_env.client.start_workflow(
            names.TICKET_WORKFLOW,
            args=_ticket_arguments(ticket_id, kind),
            id=names.ticket_workflow_id(ticket_id),
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        history = await handle.fetch_history()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidTicket", cause
    assert cause.message.startswith(f"ticket {ticket_id}: {reason}"), cause.message
    assert "Ana" not in str(failed.value)
    kinds = [event.event_type for event in history.events]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds


@pytest.mark.parametrize(
    ("cls", "hints"),
    [
        (BatchWorkflow, [Any, RawValue]),
        (SwarmWorkflow, [Any, RawValue]),
        (OrchestratorWorkflow, [Any]),
        (TicketWorkflow, [Any]),
    ],
)
def test_the_sdk_decodes_a_valid_start_with_the_same_type_hints_as_before(
    cls: type, hints: list[Any]
) -> None:
    # The workflows take *extra, which alone would have the SDK decode every argument untyped
    # (a batch's or swarm's state then a dict, not the RawValue read_payload reads in one pass).
    # The SDK's definition of the class (no public name for it; @workflow.defn stores it there).
    definition = workflow._Definition.must_from_class(cls)
    assert definition.arg_types == hints
