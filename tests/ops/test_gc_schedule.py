"""`python -m starter gc-payloads --yes --schedule 1d`: the payload collection on a Temporal
schedule, run by a worker of the tickets queue with its own client and payload store, deletes
what `gc-payloads --yes` would and keeps what a retained history needs."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    WorkflowHandle,
)

from shared import names
from shared.payload_gc import GcReport, GcRequest
from shared.payload_gc_watch import NOT_SCHEDULED, watch_collection
from shared.view import TicketView
from starter import gc_schedule
from tests.ops.conftest import OpsServer
from tests.support.payload_gc import (
    backdate,
    delete_workflow,
    history_refers_to,
    offloading_store,
    readable,
)
from tests.support.processes import run_cli
from tests.support.temporal import status, wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import real_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def collected(client: Client, run: WorkflowHandle[Any, Any]) -> GcReport:
    """The report of a scheduled run: its collect activity's result."""
    history = await run.fetch_history()
    (done,) = [
        e.activity_task_completed_event_attributes.result.payloads
        for e in history.events
        if e.HasField("activity_task_completed_event_attributes")
    ]
    (report,) = await client.data_converter.decode(done, [GcReport])
    return report


def the_action(described: ScheduleDescription) -> ScheduleActionStartWorkflow:
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    return action


async def test_a_scheduled_run_deletes_what_gc_payloads_would_and_keeps_what_is_needed(
    ops_server: OpsServer, tmp_path: Path
) -> None:
    key_file = ops_server.data_dir / "encryption-keys.json"
    _, driver, client = await offloading_store(ops_server.env, key_file, tmp_path)
    queue = f"gcs-{uuid.uuid4().hex[:8]}"
    schedule_id = f"{names.PAYLOAD_GC_SCHEDULE_ID}-{uuid.uuid4().hex[:8]}"

    async with real_pipeline(client, queue, tmp_path):
        kept = await start_ticket(client, queue, make_ticket())
        gone = await start_ticket(client, queue, make_ticket())
        await kept.result()
        await gone.result()
        await status(kept)  # its answer is stored (over the threshold), never in a history
        owned = await driver.ownership()
        owned_by_kept = {o.sha256 for o in owned if o.owner_id == kept.id}
        owned_by_gone = {o.sha256 for o in owned if o.owner_id == gone.id}
        needed = await history_refers_to(client, kept.id)
        doomed = owned_by_gone | (owned_by_kept - needed)
        assert needed and owned_by_gone and owned_by_kept - needed
        await delete_workflow(client, gone.id)
        await backdate(driver, hours=2)

        scheduled = await gc_schedule.schedule_gc(
            client, timedelta(days=1), timedelta(hours=1), task_queue=queue, schedule_id=schedule_id
        )
        assert scheduled.created
        # Intervals count from the Unix epoch: the first run is due within a day (at midnight
        # UTC), not now; nothing ran yet.
        now = datetime.now(UTC)
        assert now < scheduled.next_runs[0] <= now + timedelta(days=1)
        assert all([await readable(driver, key) for key in doomed])
        # The workers' gauges: scheduled daily, current since it was made (no run is due yet).
        watched = await watch_collection(client, schedule_id)
        assert watched.every_seconds == 86400
        assert now.timestamp() - 60 < watched.current_since <= datetime.now(UTC).timestamp()

        handle = client.get_schedule_handle(schedule_id)
        await handle.trigger()  # what the server does when the run is due

        async def one_run_started() -> bool:
            return bool((await handle.describe()).info.recent_actions)

        await wait_until(one_run_started, timeout=30, what="the schedule to start a run")
        started = (await handle.describe()).info.recent_actions[0].action
        run = client.get_workflow_handle(started.workflow_id)
        assert await run.result() is None  # the next run is handed it (docs/privacy.md)
        report = await collected(client, run)

        assert run.id.startswith(schedule_id)
        assert report.applied
        assert (report.owners_checked, report.owners_gone) == (2, 1)
        assert report.payloads_deleted == len(doomed)
        assert not any([await readable(driver, key) for key in doomed])
        assert all([await readable(driver, key) for key in needed])
        view = await client.get_workflow_handle(kept.id, result_type=TicketView).result()
        assert view.state == "COMPLETED"
        closed = (await run.describe()).close_time
        assert closed is not None

        async def watched_the_run() -> bool:
            return (await watch_collection(client, schedule_id)).current_since >= closed.timestamp()

        await wait_until(watched_the_run, timeout=30, what="the gauges to see the run succeed")

        # The same interval and grace again change nothing: the server stamps any update as the
        # schedule's last change, which the watch counts from, and the compose file's job runs
        # this at every `up` (it kept PayloadCollectionOverdue quiet for ever).
        before = (await handle.describe()).info.last_updated_at
        same = await gc_schedule.schedule_gc(
            client, timedelta(days=1), timedelta(hours=1), task_queue=queue, schedule_id=schedule_id
        )
        assert (same.created, same.changed, same.paused) == (False, False, False)
        assert (await handle.describe()).info.last_updated_at == before

        # Scheduling again replaces the interval and the grace: one schedule, not two; one an
        # operator paused stays paused, with their note, and is not watched meanwhile.
        await handle.pause(note="paused for the migration")
        again = await gc_schedule.schedule_gc(
            client, timedelta(days=2), timedelta(hours=3), task_queue=queue, schedule_id=schedule_id
        )
        assert (again.created, again.changed, again.paused) == (False, True, True)
        assert again.note == "paused for the migration"
        described = await handle.describe()
        assert described.info.last_updated_at not in (None, before)
        assert described.schedule.spec.intervals[0].every == timedelta(days=2)
        (request,) = await client.data_converter.decode(the_action(described).args, [GcRequest])
        assert request == GcRequest(grace_seconds=3 * 3600)
        # A run ends before the next is due (its clock starts after the due time).
        assert the_action(described).execution_timeout == timedelta(days=2) - timedelta(days=2) / 20
        assert described.schedule.state.paused
        assert described.schedule.state.note == "paused for the migration"
        assert await watch_collection(client, schedule_id) == NOT_SCHEDULED

    # A run that does not succeed (no worker now; terminated) is not a collection.
    await handle.unpause()
    current = await watch_collection(client, schedule_id)
    await handle.trigger()

    async def second_run() -> str | None:
        actions = (await handle.describe()).info.recent_actions
        return actions[-1].action.workflow_id if len(actions) == 2 else None

    await wait_until(second_run, timeout=30, what="the schedule to start a second run")
    unfinished = client.get_workflow_handle(str(await second_run()))
    await unfinished.terminate("no worker: a run that did not succeed")

    async def listed_terminated() -> bool:
        query = f"WorkflowId = '{unfinished.id}' AND ExecutionStatus = 'Terminated'"
        return (await client.count_workflows(query)).count == 1

    await wait_until(listed_terminated, timeout=30, what="visibility to list the terminated run")
    assert await watch_collection(client, schedule_id) == current
    assert current.every_seconds == 2 * 86400

    assert await gc_schedule.unschedule_gc(client, schedule_id)
    assert not await gc_schedule.unschedule_gc(client, schedule_id)
    await delete_workflow(client, unfinished.id)
    await delete_workflow(client, run.id)
    await delete_workflow(client, kept.id)


def test_the_command_refuses_a_schedule_it_should_not_make(ops_server: OpsServer) -> None:
    for args, said in [
        (["--schedule", "1d"], "add --yes to schedule it"),
        (["--yes", "--schedule", "30m"], "--schedule must be at least 1h"),
        (["--yes", "--schedule", "1d", "--unschedule"], "--schedule and --unschedule: give one"),
        (["--yes", "--schedule", "1d", "--grace", "10s"], "--grace must be at least 1m"),
    ]:
        refused = run_cli(ops_server.env, "gc-payloads", *args)
        # A command line that does not make sense: 2, as argparse's (1 until 2026-12-07).
        assert refused.code == 2, (args, refused.output)
        assert said in refused.stderr, (args, refused.output)


@pytest.fixture
async def schedule_removed_after(ops_server: OpsServer) -> AsyncIterator[None]:
    """The project's own schedule id on the shared ops server, removed whatever the test did:
    the server's tickets queue is other files' too (no run at midnight)."""
    yield
    await gc_schedule.unschedule_gc(ops_server.client)


async def test_the_command_schedules_replaces_and_removes_the_collection(
    ops_server: OpsServer, schedule_removed_after: None
) -> None:
    env, client = ops_server.env, ops_server.client
    made = run_cli(env, "gc-payloads", "--yes", "--schedule", "1d", "--json")
    assert made.code == 0, made.output
    first = json.loads(made.stdout)
    assert (first["created"], first["every_seconds"], first["grace_seconds"]) == (
        True,
        86400,
        3600,
    )

    described = await client.get_schedule_handle(names.PAYLOAD_GC_SCHEDULE_ID).describe()
    action = the_action(described)
    assert (action.workflow, action.task_queue, action.id) == (
        names.PAYLOAD_GC_WORKFLOW,
        names.TICKETS_TASK_QUEUE,
        names.PAYLOAD_GC_SCHEDULE_ID,
    )
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert described.schedule.policy.catchup_window == timedelta(days=1)
    assert described.schedule.spec.intervals[0].every == timedelta(days=1)
    assert action.execution_timeout == timedelta(days=1) - timedelta(days=1) / 20
    # Intervals count from the epoch: every day at midnight UTC, as the docs say.
    first_run = datetime.fromisoformat(first["next_runs"][0])
    assert (first_run.hour, first_run.minute, first_run.second) == (0, 0, 0)
    (request,) = await client.data_converter.decode(action.args, [GcRequest])
    assert request == GcRequest(grace_seconds=3600)
    # Not encrypted: the schedule outlives the key of the day it was made.
    assert [a.metadata["encoding"] for a in action.args] == [b"json/plain"]

    replaced = run_cli(env, "gc-payloads", "--yes", "--schedule", "12h", "--grace", "2h")
    assert replaced.code == 0, replaced.output
    assert "Rescheduled the payload collection every 12h" in replaced.stdout
    unchanged = run_cli(env, "gc-payloads", "--yes", "--schedule", "12h", "--grace", "2h")
    assert unchanged.code == 0, unchanged.output
    assert "Nothing to change: the payload collection was already scheduled" in unchanged.stdout
    assert "Next run: " in replaced.stdout
    assert "gc-payloads --unschedule" in replaced.stdout
    described = await client.get_schedule_handle(names.PAYLOAD_GC_SCHEDULE_ID).describe()
    assert described.schedule.spec.intervals[0].every == timedelta(hours=12)
    assert described.schedule.policy.catchup_window == timedelta(hours=12)
    (request,) = await client.data_converter.decode(the_action(described).args, [GcRequest])
    assert request == GcRequest(grace_seconds=2 * 3600)

    removed = run_cli(env, "gc-payloads", "--unschedule")
    assert removed.code == 0, removed.output
    assert f"Removed the schedule {names.PAYLOAD_GC_SCHEDULE_ID}" in removed.stdout
    nothing = run_cli(env, "gc-payloads", "--unschedule")
    assert "nothing to remove" in nothing.stdout
