"""An idle rate controller renews its run (continues as new) once it is ``renew_after_seconds``
old (patch "renewed-runs"), so no run's history outlives the key it was encrypted with; what it
learnt goes with it (workflows/rate_controller.py)."""

import json
import uuid

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.queue_rate import set_queue_rate
from policy.adaptive_rate import ControllerState
from shared import names
from shared.rate_control import ControllerInput
from tests.support.temporal import wait_until
from workflows.rate_controller import PATCH_RENEWED_RUNS, ProviderRateController


async def test_an_idle_controller_continues_as_new_when_its_run_is_old_enough(
    dev_env: WorkflowEnvironment,
) -> None:
    tag = uuid.uuid4().hex[:8]
    queue, provider_queue = f"rate-control-{tag}", f"llm-renewal-{tag}"
    client = dev_env.client
    learnt = ControllerState(rate=7.5, phase="steady", ceiling=8.0, decreases=3)
    start = ControllerInput(
        provider_queue=provider_queue, state=learnt, mode="adaptive", renew_after_seconds=1.0
    )
    async with Worker(
        client, task_queue=queue, workflows=[ProviderRateController], activities=[set_queue_rate]
    ):
        handle = await client.start_workflow(
            names.RATE_CONTROLLER_WORKFLOW,
            start,
            id=names.rate_controller_id(provider_queue),
            task_queue=queue,
        )
        first = handle.result_run_id

        async def renewed() -> bool:
            return (await handle.describe()).run_id != first

        await wait_until(renewed, timeout=30.0, what="the idle controller's run to renew")
        state = await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)
        first_run = client.get_workflow_handle(handle.id, run_id=first)
        closed = await first_run.describe()
        history = await first_run.fetch_history()
        await handle.terminate("test over")

    assert closed.status is WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert state == learnt  # nothing reported: what it learnt crossed unchanged
    patches = {
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_patch"
    }
    assert PATCH_RENEWED_RUNS in patches
