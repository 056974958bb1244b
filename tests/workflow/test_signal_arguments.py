"""A signal sent with no argument, or with two, to a handler that takes one (a review, 2026-12-08):
the SDK called the handler with what was sent, the TypeError failed the workflow *task*, and
every retry met the signal again in the history. A ticket waiting for review stayed there for
good, every later review lost. Now such a signal is ignored, saying why, and the workflow goes
on; a signal's one argument keeps its type hint, so a valid one decodes as before."""

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.agents import Priority
from shared.batch import TicketSettled
from shared.rate_control import OutcomeReport
from shared.review import ReviewAction, ReviewDecision
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import status, wait_for_state, wait_until
from tests.support.workers import ticket_on_fakes
from workflows.batch import BatchWorkflow
from workflows.orchestrator import OrchestratorWorkflow
from workflows.rate_controller import ProviderRateController
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.usefixtures("replay_check")


async def _failed_tasks(handle: WorkflowHandle) -> list[str]:
    failed = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failed.append(event.workflow_task_failed_event_attributes.failure.message)
    return failed


async def test_a_review_signal_with_no_argument_or_two_is_ignored_and_the_ticket_goes_on(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await handle.signal(names.REVIEW_SIGNAL)
        await handle.signal(names.REVIEW_SIGNAL, args=[{"action": "approve"}, {"x": 1}])
        # The ticket's other one-argument signal, the same way.
        await handle.signal(names.ORCHESTRATION_SPENT_SIGNAL)
        await handle.signal(names.ORCHESTRATION_SPENT_SIGNAL, args=[{}, {}])

        async def both_recorded() -> TicketView | None:
            view = await status(handle)
            return view if len(view.reviews) >= 2 else None

        view = await wait_until(both_recorded, what="both signals recorded as ignored")
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE,
            ReviewDecision(action=ReviewAction.APPROVE, reviewer="ana"),
        )
        result: TicketView = await handle.result()
        failed = await _failed_tasks(handle)

    assert [(r.applied, r.note) for r in view.reviews] == [
        (False, "not a valid review: it carried no argument (it takes one JSON object)"),
        (False, "not a valid review: it carried 2 arguments (it takes one JSON object)"),
    ]
    assert result.state is TicketState.COMPLETED
    assert failed == []


@pytest.mark.parametrize(
    ("workflow_class", "signal", "argument_type"),
    [
        (TicketWorkflow, names.REVIEW_SIGNAL, object),
        (TicketWorkflow, names.ORCHESTRATION_SPENT_SIGNAL, object),
        (OrchestratorWorkflow, names.SUBTASK_SPENT_SIGNAL, object),
        (BatchWorkflow, names.TICKET_SETTLED_SIGNAL, TicketSettled),
        (ProviderRateController, names.RATE_REPORT_SIGNAL, OutcomeReport),
    ],
)
def test_a_signals_one_argument_keeps_its_type_for_the_sdk(
    workflow_class: type, signal: str, argument_type: type
) -> None:
    """The SDK reads a handler's signature: one with ``*extra`` has every argument decoded with
    no type hint, and a rate report would reach the controller as a dict."""
    definition = workflow._Definition.must_from_class(workflow_class)
    [hint] = definition.signals[signal].arg_types or [None]
    assert hint is argument_type or (argument_type is object and hint is not None)
