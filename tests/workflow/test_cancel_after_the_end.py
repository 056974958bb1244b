"""A cancel request that reaches a batch's ticket after it ended, while it tells its batch, is too
late: the workflow closes as the ticket ended, not Canceled while the ticket says COMPLETED.
temporalio lets the signal finish when the cancel request comes in a workflow task of its own
(this test keeps that so across SDK upgrades); when the request and the signal's result come in
one task, the await raises the cancellation (docs/lifecycle.md, a race left).

An interceptor holds the workflow task that sends the batch its report while the test's cancel
request comes in."""

import asyncio
import threading
import uuid
from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    Interceptor,
    SignalExternalWorkflowInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from policy.transitions import TicketState
from shared import names
from shared.view import TicketRequest, TicketView
from tests.support.fake_batch import FakeBatch
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import new_replayer, wait_until
from tests.support.tickets import make_ticket
from tests.support.workers import fake_pipeline

CANCEL_REQUESTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
SIGNALED = EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED


class HoldTheReport(Interceptor):
    """Holds the workflow task that sends a ticket's report until ``release`` (at most 1.5 s:
    the SDK's deadlock detector fails a task that does not yield for 2 s)."""

    def __init__(self) -> None:
        self.reporting = threading.Event()
        self.release = threading.Event()

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        hold = self

        class Outbound(WorkflowOutboundInterceptor):
            async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
                if (
                    input.signal == names.TICKET_SETTLED_SIGNAL
                    and not workflow.unsafe.is_replaying()
                ):
                    hold.reporting.set()
                    hold.release.wait(1.5)
                return await super().signal_external_workflow(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


async def test_a_cancel_request_after_a_batch_ticket_ended_does_not_cancel_its_workflow(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(), FakeTicketServices()
    activities = agents.activities() + services.activities()
    hold = HoldTheReport()
    batch_id = f"stub-batch-{uuid.uuid4().hex[:8]}"
    ticket = make_ticket()
    client = dev_env.client
    options: dict[str, Any] = {
        "workflows": [FakeBatch],
        "workflow_runner": UnsandboxedWorkflowRunner(),
    }
    pipeline = fake_pipeline(
        client, task_queue, activities, services.agent_queue, interceptors=[hold], **options
    )
    await pipeline.__aenter__()
    try:
        batch = await client.start_workflow(FakeBatch.run, id=batch_id, task_queue=task_queue)
        handle = await client.start_workflow(
            names.TICKET_WORKFLOW,
            TicketRequest(ticket=ticket, batch_id=batch_id),
            id=names.ticket_workflow_id(ticket.ticket_id),
            task_queue=task_queue,
            result_type=TicketView,
        )
        assert await asyncio.to_thread(hold.reporting.wait, 30)
    except BaseException:
        hold.release.set()
        await pipeline.__aexit__(None, None, None)
        raise

    async def cancel_then_release() -> None:
        try:
            await handle.cancel()
        finally:
            hold.release.set()

    # The workers stop while the report's task is held; the cancel request comes in meanwhile,
    # and the held task completes with the report's signal; a new worker finishes the ticket.
    releasing = asyncio.create_task(cancel_then_release())
    await pipeline.__aexit__(None, None, None)
    await releasing

    async def both_in_history() -> bool:
        kinds = {e.event_type for e in (await handle.fetch_history()).events}
        return {CANCEL_REQUESTED, SIGNALED} <= kinds

    await wait_until(both_in_history, what="the cancel request and the signal's result")
    async with fake_pipeline(client, task_queue, activities, services.agent_queue, **options):
        view = await handle.result()
        told = await batch.result()
    description = await handle.describe()
    history = await handle.fetch_history()
    await new_replayer().replay_workflow(history)

    assert view.state is TicketState.COMPLETED
    assert told == [f"{ticket.ticket_id}:{TicketState.COMPLETED.value}"]
    assert description.status is WorkflowExecutionStatus.COMPLETED
