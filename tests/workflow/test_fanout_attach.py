"""`batch` and `swarm` started under an id another run holds: the start returned that run without
a word (the conflict policy USE_EXISTING), so the new input was never submitted while the
command said it had started it and showed the other run's progress as its own. They follow that
run only when it has the same input (a digest in its memo). On the real dev server, with no
worker on the queue, so the first run stays running."""

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.batch import BatchSettings
from starter import batch_run, fanout_runs
from starter.errors import CliError
from tests.support.tickets import make_ticket


@pytest.fixture
def unpolled_queue(monkeypatch: pytest.MonkeyPatch) -> str:
    queue = f"no-worker-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(names, "TICKETS_TASK_QUEUE", queue)
    return queue


@pytest.mark.usefixtures("unpolled_queue")
async def test_a_batch_under_a_running_batchs_id_with_other_tickets_is_refused(
    dev_env: WorkflowEnvironment,
) -> None:
    client, batch_id = dev_env.client, f"nightly-{uuid.uuid4().hex[:8]}"
    first = [make_ticket() for _ in range(3)]
    other = [make_ticket() for _ in range(5)]
    started = await batch_run.run_batch(client, first, BatchSettings(), batch_id, wait=False)
    try:
        # The same file again follows the running batch, and says it started nothing (it said
        # "started", as if a second batch were under way).
        again = await batch_run.run_batch(client, first, BatchSettings(), batch_id, wait=False)
        assert started == (batch_id, None, False) and again == (batch_id, None, True)
        with pytest.raises(CliError, match=r"running with other input.*NOT submitted"):
            await batch_run.run_batch(client, other, BatchSettings(), batch_id, wait=False)
    finally:
        await client.get_workflow_handle(batch_id).terminate("test over")


@pytest.mark.usefixtures("unpolled_queue")
async def test_a_corrected_file_under_the_same_ids_is_another_batch(
    dev_env: WorkflowEnvironment,
) -> None:
    client = dev_env.client
    ticket = make_ticket(body="Invoice 1 is missing.")
    corrected = ticket.model_copy(update={"body": "Invoice 1 is missing (March)."})
    first, _, _ = await batch_run.run_batch(client, [ticket], BatchSettings(), None, wait=False)
    try:
        second, _, _ = await batch_run.run_batch(
            client, [corrected], BatchSettings(), None, wait=False
        )
        await client.get_workflow_handle(second).terminate("test over")
    finally:
        await client.get_workflow_handle(first).terminate("test over")
    assert first != second


@pytest.mark.usefixtures("unpolled_queue")
async def test_a_plan_started_again_while_it_runs_is_followed_not_said_started(
    dev_env: WorkflowEnvironment,
) -> None:
    client, plan_id = dev_env.client, f"plan-{uuid.uuid4().hex[:8]}"
    first = await fanout_runs.run_plan(client, "Summarise the refund policy.", plan_id, wait=False)
    try:
        again = await fanout_runs.run_plan(
            client, "Summarise the refund policy.", plan_id, wait=False
        )
    finally:
        await client.get_workflow_handle(plan_id).terminate("test over")
    assert (first.earlier, first.attached) == (False, False)
    assert (again.workflow_id, again.result, again.earlier, again.attached) == (
        plan_id,
        None,
        False,
        True,
    )
