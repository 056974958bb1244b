"""A batch cancelled while its tickets' child starts are in flight (StartChildWorkflowExecution-
Initiated recorded, ChildWorkflowExecutionStarted not yet) asks none of them to cancel: a ticket
started is a workflow of its own and goes on to its answer (docs/fanout.md, "A cancelled batch";
workflows/batch.py, patch tickets-outlive-cancel). On the dev server.

The point is made deterministic by holding the batch's workflow task that sends a group's child
starts until the test's cancel request is in. The request is buffered while that task runs, so the
server starts the next workflow task (the cancel) in the same update that completes the held one
(the SDK asks for it with the completion, return_new_workflow_task): every start of the group is
still in flight when the batch sees its cancel, whatever the timing of the server's transfer
queue."""

import asyncio
import threading
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    Interceptor,
    StartChildWorkflowInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from shared import names
from shared.batch import BatchSettings
from tests.support.batches import all_closed, start_batch, tickets
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.workers import fake_pipeline

E = EventType
CANCEL_ASKED_OF_A_TICKET = E.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED


class HoldTheStarts(Interceptor):
    """Holds the batch's first workflow task that starts a ticket until ``release`` (at most
    1.5 s: the SDK's deadlock detector fails a task that does not yield for 2 s; the cancel
    request takes milliseconds, and one later than that fails the test, which checks that every
    start was still in flight at the cancel)."""

    def __init__(self) -> None:
        self.starting = threading.Event()
        self.release = threading.Event()

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        hold = self

        class Outbound(WorkflowOutboundInterceptor):
            async def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
                if (
                    workflow.info().workflow_type == names.BATCH_WORKFLOW
                    and not workflow.unsafe.is_replaying()
                    and not hold.starting.is_set()
                ):
                    hold.starting.set()
                    hold.release.wait(1.5)
                return await super().start_child_workflow(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


async def event_types(handle: WorkflowHandle[Any, Any]) -> list[int]:
    return [e.event_type async for e in handle.fetch_history_events()]


async def cancel_during_the_starts(handle: WorkflowHandle[Any, Any], hold: HoldTheStarts) -> None:
    try:
        assert await asyncio.to_thread(hold.starting.wait, 30)
        await handle.cancel()  # in before the held task completes with the group's starts
    finally:
        hold.release.set()


def starts_in_flight_at_the_cancel(types: list[int]) -> int:
    before = types[: types.index(E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED)]
    assert E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED not in before
    return before.count(E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)


@pytest.mark.usefixtures("replay_check")
async def test_a_batch_cancelled_with_its_starts_in_flight_asks_no_ticket_to_cancel(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    agents, services = FakeAgents(), FakeTicketServices()
    hold = HoldTheStarts()
    batch = tickets(3)
    async with fake_pipeline(
        client,
        task_queue,
        agents.activities() + services.activities(),
        services.agent_queue,
        interceptors=[hold],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await start_batch(client, task_queue, batch, BatchSettings(window=3))
        await cancel_during_the_starts(handle, hold)
        with pytest.raises(WorkflowFailureError) as ended:
            await handle.result()
        await all_closed(client, batch)  # each ticket completes (a cancelled one would raise)
        types = await event_types(handle)
        ticket_types = [
            await event_types(client.get_workflow_handle(names.ticket_workflow_id(t.ticket_id)))
            for t in batch
        ]

    assert isinstance(ended.value.cause, CancelledError)
    assert starts_in_flight_at_the_cancel(types) == 3
    # Before: three RequestCancelExternalWorkflowExecutionInitiated, one per ticket, in the task
    # that closed the batch (the server dropped them only because the batch had closed).
    assert CANCEL_ASKED_OF_A_TICKET not in types
    for kinds in ticket_types:
        assert E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED not in kinds
