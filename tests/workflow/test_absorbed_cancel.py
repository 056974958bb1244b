"""A cancel request that something else absorbs does not send the ticket on to a person.

Cancelling a ticket cancels what it awaits. An orchestrator run that completes anyway (its
synthesizer answered as the request came) hands the ticket its result, and temporalio's
cancellation of the ticket is then spent: the ticket went on to validation and waited in the
review queue, where an approval ended it CANCELLED at delivery's check and no approval left it
there until its final deadline (or for ever). Since ``absorbed-cancel-stops`` it ends CANCELLED
as soon as the run's answer comes, before another agent call. The review gate checks the same
before a ticket waits and after it has told its batch (the last tests).

No replay_check fixture: the stand-in orchestrator's own history would not replay against the
real one. The ticket's history is replayed here, without its child's.
"""

import asyncio
import contextlib
import uuid
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from policy.review_policy import ReasonCode, ReviewReason
from policy.transitions import TicketState
from shared import names
from shared.orchestration import OrchestratorInput, OrchestratorResult, Synthesis
from shared.tickets import Ticket
from tests.support.fake_fanout import plan, task
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import (
    absorbing_child_waits,
    patch_ids,
    replay_histories,
    wait_for_state,
    wait_until,
)
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import fake_pipeline
from workflows.review_gate import ReviewGate
from workflows.ticket_patches import PATCH_ABSORBED_CANCEL_STOPS
from workflows.ticket_record import TicketRecord


@workflow.defn(name=names.ORCHESTRATOR_WORKFLOW, sandboxed=False)
class CancelAbsorbingOrchestrator:
    """A fake orchestrator run: it waits until it is asked to cancel, then answers anyway."""

    def __init__(self) -> None:
        self.started = False

    @workflow.run
    async def run(self, request: OrchestratorInput) -> OrchestratorResult:
        self.started = True
        with contextlib.suppress(asyncio.CancelledError):
            await workflow.wait_condition(lambda: False)
        return OrchestratorResult(
            task=request.task,
            plan=plan(task("look")),
            plan_attempts=1,
            outcomes=[],
            synthesis=Synthesis(answer="An answer written as the cancel request came."),
        )

    @workflow.query(name="started")
    def was_started(self) -> bool:
        return self.started


async def _child_started(child: WorkflowHandle[Any, Any]) -> bool | None:
    try:
        return await child.query("started", result_type=bool) or None
    except RPCError:  # not started yet (not found), or its first task not run: asked again
        return None


async def test_a_cancel_absorbed_by_the_orchestrator_run_ends_the_ticket_cancelled(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A complex ticket the validator would send to a person (confidence 0.2).
    agents, services = FakeAgents(complex=True, confidence=0.2), FakeTicketServices()
    async with fake_pipeline(
        dev_env.client,
        task_queue,
        agents.activities() + services.activities(),
        llm_queue=services.agent_queue,
        workflows=[CancelAbsorbingOrchestrator],
    ):
        handle = await start_ticket(dev_env.client, task_queue, make_ticket())
        child = dev_env.client.get_workflow_handle(f"{handle.id}/resolution")
        await wait_until(lambda: _child_started(child), what="the orchestrator run")
        await handle.cancel()
        # Before the patch it came to rest in the review queue instead.
        view = await wait_for_state(handle, TicketState.CANCELLED, TicketState.AWAITING_REVIEW)
        assert view.state is TicketState.CANCELLED
        with pytest.raises(WorkflowFailureError) as ended:
            await handle.result()
        history = await handle.fetch_history()
        await replay_histories(dev_env.client, [(handle.id, None)], children=False)

    assert isinstance(ended.value.cause, CancelledError)
    assert TicketState.AWAITING_REVIEW not in [t.to_state for t in view.transitions]
    # The orchestrator's answer came; no agent was called after it, nobody was asked to review.
    assert (await child.describe()).status.name == "COMPLETED"
    assert "validate" not in agents.calls and "draft" not in agents.calls
    assert view.review_reasons == []
    assert PATCH_ABSORBED_CANCEL_STOPS in patch_ids(history.events)


# The review gate's own checks, driven by a test workflow around the real gate: in the ticket
# the check after an orchestrator run comes first, so these two are reached only by what else
# can absorb a cancel (an activity answered in the workflow task that brings the request; the
# batch's signal on its way).


@workflow.defn(name="CancelAbsorbingChild", sandboxed=False)
class CancelAbsorbingChild:
    """Waits until it is asked to cancel, then completes anyway."""

    @workflow.run
    async def run(self) -> str:
        with contextlib.suppress(asyncio.CancelledError):
            await workflow.wait_condition(lambda: False)
        return "answered anyway"


@workflow.defn(name="ReviewGateAroundAbsorbedCancel", sandboxed=False)
class ReviewGateAroundAbsorbedCancel:
    """A classified ticket's record and the real review gate. ``where``: "before", the cancel
    is absorbed just before the gate's wait (a child awaited first); "on_waiting", by the
    gate's ``on_waiting`` (the ticket tells its batch there)."""

    def __init__(self) -> None:
        self.record = TicketRecord(Ticket(ticket_id="T-gate", subject="Refund", body="Where?"))

    @workflow.run
    async def run(self, where: str) -> str:
        self.record.stages_at_rest = self.record.lean = True
        self.record.start()
        self.record.move(TicketState.CLASSIFIED, "classifier", "billing")
        gate = ReviewGate(self.record)
        reasons = [ReviewReason(ReasonCode.LOW_CONFIDENCE, "the classifier was unsure")]

        async def absorb() -> None:
            await workflow.execute_child_workflow(
                CancelAbsorbingChild.run, id=f"{workflow.info().workflow_id}/absorbs"
            )

        if where == "before":
            await absorb()
            await gate.wait(reasons)
        else:
            await gate.wait(reasons, on_waiting=absorb)
        return "a person decided"

    @workflow.query(name="states")
    def states(self) -> list[str]:
        return [t.to_state.value for t in self.record.view.transitions]


async def _closed(handle: WorkflowHandle[Any, Any]) -> str | None:
    status = (await handle.describe()).status
    return None if status is None or status.name == "RUNNING" else status.name


@pytest.mark.parametrize("where", ["before", "on_waiting"])
async def test_the_review_gate_does_not_wait_for_a_person_after_an_absorbed_cancel(
    ts_env: WorkflowEnvironment, task_queue: str, where: str
) -> None:
    client = ts_env.client
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ReviewGateAroundAbsorbedCancel, CancelAbsorbingChild],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            ReviewGateAroundAbsorbedCancel.run,
            where,
            id=f"gate-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        child = client.get_workflow_handle(f"{handle.id}/absorbs")
        await absorbing_child_waits(handle, child)
        await handle.cancel()
        # Before the checks the gate went on to wait for a person, for ever (no deadline here).
        closed = await wait_until(lambda: _closed(handle), what=f"{handle.id} closing")
        states = await handle.query(ReviewGateAroundAbsorbedCancel.states)
        history = await handle.fetch_history()

    assert closed == "CANCELED"
    assert (await child.describe()).status.name == "COMPLETED"  # the cancel was absorbed
    # Cancelled before the wait: never moved to it. Cancelled while telling the batch: it had.
    assert (TicketState.AWAITING_REVIEW.value in states) == (where == "on_waiting")
    assert PATCH_ABSORBED_CANCEL_STOPS in patch_ids(history.events)
