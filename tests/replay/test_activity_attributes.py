"""Adding a schedule-to-start timeout to agent calls changed an attribute of their
ScheduleActivityTask commands, not the commands: histories recorded before replay against the
new code without a ``workflow.patched`` marker (which would add an event to every ticket)."""

import uuid

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from tests.support.queue_wait_workflows import (
    ACTIVITY,
    BeforeTheQueueWait,
    WithAnotherActivity,
    WithTheQueueWait,
)


@activity.defn(name=ACTIVITY)
async def answer() -> str:
    return "answered"


async def test_a_history_recorded_without_the_queue_wait_replays_with_it(
    ts_env: WorkflowEnvironment,
) -> None:
    queue = f"queue-wait-{uuid.uuid4().hex[:6]}"
    async with Worker(
        ts_env.client, task_queue=queue, workflows=[BeforeTheQueueWait], activities=[answer]
    ):
        handle = await ts_env.client.start_workflow(
            BeforeTheQueueWait.run, id=f"{queue}-wf", task_queue=queue
        )
        assert await handle.result() == "answered"
    history = await handle.fetch_history()

    converter = ts_env.client.data_converter
    await Replayer(workflows=[WithTheQueueWait], data_converter=converter).replay_workflow(history)
    # The same replay does catch a changed command sequence: the check above can fail.
    with pytest.raises(Exception, match=r"[Nn]ondetermin"):
        await Replayer(workflows=[WithAnotherActivity], data_converter=converter).replay_workflow(
            history
        )
