"""A batch started with more tickets than a batch takes (by a client other than the CLI, whose
one file holds at most as many) fails at once, saying why, and starts no ticket: it took any
number before (patch batch-refuses-too-many), and one started with a later run's position in its
state took any number until patch batch-started-run-is-first."""

import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.batch import MAX_BATCH_TICKETS, BatchProgress, BatchSettings, BatchState
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids
from tests.support.workers import fake_pipeline
from workflows.batch_patches import BATCH_REFUSES_TOO_MANY, BATCH_STARTED_RUN_IS_FIRST


@pytest.mark.usefixtures("replay_check")
@pytest.mark.parametrize(
    "state",
    [
        BatchState(settings=BatchSettings()),
        # A later run's position, as a client other than the CLI may send it: that skipped the
        # refusal (patch batch-started-run-is-first).
        BatchState(settings=BatchSettings(), position=1),
    ],
    ids=["new", "later-run-s-position"],
)
async def test_a_batch_of_more_tickets_than_it_takes_fails_at_once_saying_why(
    ts_env: WorkflowEnvironment, task_queue: str, state: BatchState
) -> None:
    agents, services = FakeAgents(), FakeTicketServices()
    # As raw input, the shortest a ticket can be: the history holds it in the payload store.
    tickets = [{"subject": "s", "body": f"b{i}"} for i in range(MAX_BATCH_TICKETS + 1)]
    activities = agents.activities() + services.activities()
    async with fake_pipeline(ts_env.client, task_queue, activities, services.agent_queue):
        handle = await ts_env.client.start_workflow(
            names.BATCH_WORKFLOW,
            args=[tickets, state],
            id=f"batch-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            result_type=BatchProgress,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        history = await handle.fetch_history()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "BatchTooLarge"
    assert cause.message == (
        "the batch has 100,001 tickets; a batch takes at most 100,000: split the input and run "
        "each part as a batch of its own"
    )
    assert agents.calls == {}
    assert BATCH_REFUSES_TOO_MANY in patch_ids(history.events)
    later = state.position > 0
    assert (BATCH_STARTED_RUN_IS_FIRST in patch_ids(history.events)) is later
    assert not any(
        e.HasField("start_child_workflow_execution_initiated_event_attributes")
        for e in history.events
    )
