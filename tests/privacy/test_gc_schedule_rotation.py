"""The payload collection's schedule across a key rotation, on the dev server: a run after the old
key is retired completes. The server hands each scheduled run the last successful run's result,
and the worker decodes it as the run starts: a report encrypted under the retired key failed
that run's first workflow task, and every later run's (a review, 2026-12-07). The run's result
is now None, which the codec leaves unencrypted. With a fake of the collect activity: what it
collects is not the point here (tests/ops/test_gc_schedule.py runs the real one)."""

import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, ScheduleActionStartWorkflow, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import names
from shared.payload_gc import GcReport, GcRequest
from shared.payload_gc_renewal import handed_on_failure_keys, renew_before_retirement
from starter import gc_schedule
from tests.privacy.test_key_rotation import NEW, OLD, client_with
from tests.support.payload_gc import collect_payloads_not_all_checked_fake
from tests.support.temporal import wait_until
from workflows.payload_gc import PayloadGcWorkflow


@activity.defn(name=names.COLLECT_PAYLOADS)
async def collect_nothing_fake(request: GcRequest) -> GcReport:
    """A fake of the collection: nothing owned, nothing deleted."""
    return GcReport(store="fake", namespace="default", grace_seconds=request.grace_seconds)


async def a_run_completes(client: Client, schedule_id: str, runs_before: int) -> Any:
    """Trigger the schedule and wait for its next run to close; that run's description."""
    handle = client.get_schedule_handle(schedule_id)
    await handle.trigger()

    async def next_run_closed() -> Any:
        actions = (await handle.describe()).info.recent_actions
        if len(actions) <= runs_before:
            return None
        run = client.get_workflow_handle(actions[runs_before].action.workflow_id)
        described = await run.describe()
        return described if described.status != WorkflowExecutionStatus.RUNNING else None

    return await wait_until(next_run_closed, timeout=30, what="the scheduled run to close")


async def test_a_scheduled_collection_after_the_old_key_is_retired_completes(
    dev_env: WorkflowEnvironment,
) -> None:
    queue = f"gc-rotation-{uuid.uuid4().hex[:8]}"
    schedule_id = f"{names.PAYLOAD_GC_SCHEDULE_ID}-{uuid.uuid4().hex[:8]}"
    before = client_with(dev_env.client, OLD)
    retired = client_with(dev_env.client, NEW)  # the old key gone from every process
    await gc_schedule.schedule_gc(
        before, timedelta(days=1), timedelta(hours=1), task_queue=queue, schedule_id=schedule_id
    )
    closed = []
    try:
        # A worker with the old key runs one; then workers with the new key alone run the next.
        for client in (before, retired):
            async with Worker(
                client,
                task_queue=queue,
                workflows=[PayloadGcWorkflow],
                activities=[collect_nothing_fake],
            ):
                closed.append(await a_run_completes(client, schedule_id, len(closed)))
    finally:
        await gc_schedule.unschedule_gc(before, schedule_id)

    assert [run.status for run in closed] == [WorkflowExecutionStatus.COMPLETED] * 2


async def test_a_failed_run_under_the_retired_key_does_not_wedge_the_schedule(
    dev_env: WorkflowEnvironment,
) -> None:
    # The server hands each run the last failure since the last success, encrypted: with its
    # key retired every later run failed its first workflow task until it timed out, and a
    # timed-out run changes nothing handed on, so none ever collected again (a review,
    # 2026-12-07). A worker starting with a ring makes the schedule again first.
    queue = f"gc-rotation-{uuid.uuid4().hex[:8]}"
    schedule_id = f"{names.PAYLOAD_GC_SCHEDULE_ID}-{uuid.uuid4().hex[:8]}"
    before, retired = client_with(dev_env.client, OLD), client_with(dev_env.client, NEW)
    await gc_schedule.schedule_gc(
        before, timedelta(days=1), timedelta(hours=1), task_queue=queue, schedule_id=schedule_id
    )
    try:
        async with Worker(
            before,
            task_queue=queue,
            workflows=[PayloadGcWorkflow],
            activities=[collect_payloads_not_all_checked_fake],
        ):
            failed = await a_run_completes(before, schedule_id, 0)
        # Under the key that is current, nothing is done; once another is, the schedule is new.
        assert await renew_before_retirement(before, schedule_id) is None
        assert await handed_on_failure_keys(retired, schedule_id) == {OLD}
        said = await renew_before_retirement(retired, schedule_id)
        assert await renew_before_retirement(retired, schedule_id) is None  # nothing handed on
        async with Worker(
            retired,
            task_queue=queue,
            workflows=[PayloadGcWorkflow],
            activities=[collect_nothing_fake],
        ):
            after = await a_run_completes(retired, schedule_id, 0)
        schedule = (await retired.get_schedule_handle(schedule_id).describe()).schedule
    finally:
        await gc_schedule.unschedule_gc(before, schedule_id)

    assert failed.status == WorkflowExecutionStatus.FAILED
    assert said is not None and f"encrypted under key {OLD}, not the current {NEW}" in said
    assert after.status == WorkflowExecutionStatus.COMPLETED
    assert isinstance(schedule.action, ScheduleActionStartWorkflow)
    assert (schedule.action.task_queue, schedule.spec.intervals[0].every) == (
        queue,
        timedelta(days=1),
    )
