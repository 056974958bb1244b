"""``python -m starter gc-payloads --yes --schedule 1d`` (and ``--unschedule``): the payload
collection on a Temporal schedule, instead of a cron job on some host.

The schedule (id ``payload-gc``) starts the ``PayloadGc`` workflow (workflows/payload_gc.py) on
the tickets queue every interval; a worker of that queue runs the collection with its own
client and payload store, as ``gc-payloads --yes`` with the same ``--grace`` would. Running the
command again replaces the interval and the grace. Each run is a workflow ``payload-gc-<time it
was due>`` whose collect activity's result is the report of ``gc-payloads --json`` (the run's
own is None: the next run is handed it, docs/privacy.md; a run that could not check some
owners fails, naming them); ``shared/payload_gc_watch.py`` tells the workers' gauges when one
last succeeded (alert PayloadCollectionOverdue). A run never starts while the previous one still
runs, each ends before the next is due, and after an outage the server starts one missed run,
not every one. docs/payloads.md.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.converter import PayloadConverter

from shared import names
from shared.payload_gc import GcRequest
from shared.payload_gc_renewal import delete_schedule

# Each run reads the history of every workflow that stored a payload: more often than hourly
# is load on the server for little gain (nothing younger than the grace goes anyway).
MIN_EVERY: Final = timedelta(hours=1)
# A run missed while the server was down starts when it is back if it was due this recently;
# the SKIP overlap policy keeps that to one run.
CATCHUP_WINDOW: Final = timedelta(days=1)
NOTE: Final = (
    "payload collection: `python -m starter gc-payloads --yes --schedule` (docs/payloads.md)"
)


@dataclass(frozen=True)
class Scheduled:
    schedule_id: str
    created: bool  # False: there was one already
    changed: bool  # the schedule was made or given another interval, grace or queue
    paused: bool
    note: str  # the schedule's note: an operator's, when they paused it
    next_runs: list[datetime]


def run_timeout(every: timedelta) -> timedelta:
    """A run's execution timeout: it ends before the next is due, so a stuck run (a history read
    that hangs) never makes the schedule skip the next (its clock starts a little after the due
    time)."""
    return every - max(timedelta(minutes=5), every / 20)


def gc_schedule(
    converter: PayloadConverter,
    every: timedelta,
    grace: timedelta,
    task_queue: str = names.TICKETS_TASK_QUEUE,
    schedule_id: str = names.PAYLOAD_GC_SCHEDULE_ID,
) -> Schedule:
    """Each run's workflow id is ``schedule_id`` and the time it was due. The input (the grace,
    no customer data) is kept in plain JSON, not through the codec: a schedule keeps its input
    for as long as it exists, and one encrypted with the key of the day it was made would fail
    every run once that key is retired (docs/privacy.md, "Rotation")."""
    (request,) = converter.to_payloads([GcRequest(grace_seconds=grace.total_seconds())])
    return Schedule(
        action=ScheduleActionStartWorkflow(
            names.PAYLOAD_GC_WORKFLOW,
            request,
            id=schedule_id,
            task_queue=task_queue,
            execution_timeout=run_timeout(every),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=min(every, CATCHUP_WINDOW)
        ),
        state=ScheduleState(note=NOTE),
    )


async def schedule_gc(
    client: Client,
    every: timedelta,
    grace: timedelta,
    *,
    task_queue: str = names.TICKETS_TASK_QUEUE,
    schedule_id: str = names.PAYLOAD_GC_SCHEDULE_ID,
) -> Scheduled:
    """Create the schedule, or give an existing one this interval, grace and queue. The same
    ones again change nothing: the server stamps every update as the schedule's last change,
    which the workers' watch counts from (shared/payload_gc_watch.py), and the compose file's job
    runs this at every `up`."""
    converter = client.data_converter.payload_converter
    schedule = gc_schedule(converter, every, grace, task_queue, schedule_id)
    try:
        handle = await client.create_schedule(schedule_id, schedule)
        created = True
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        changed = False

        # Two operators rescheduling at once: the last one's schedule stands (the SDK sends no
        # conflict token), and either is a whole schedule.
        def replace(current: ScheduleUpdateInput) -> ScheduleUpdate | None:
            nonlocal changed
            if _same(current.description.schedule, schedule):
                return None
            changed = True
            # Paused by an operator stays paused (with the operator's note).
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        created = False
    described = await handle.describe()
    state = described.schedule.state
    return Scheduled(
        schedule_id,
        created,
        created or changed,
        state.paused,
        state.note or "",
        list(described.info.next_action_times),
    )


def _same(current: Schedule, wanted: Schedule) -> bool:
    """Whether the schedule already runs what ``wanted`` would: the action (input, queue, id,
    timeout), the interval and the policy."""
    now, then = current.action, wanted.action
    if not isinstance(now, ScheduleActionStartWorkflow):
        return False
    assert isinstance(then, ScheduleActionStartWorkflow)
    return (
        (now.workflow, now.task_queue, now.id, now.execution_timeout)
        == (then.workflow, then.task_queue, then.id, then.execution_timeout)
        and [(dict(a.metadata), a.data) for a in now.args]
        == [(dict(a.metadata), a.data) for a in then.args]
        and [i.every for i in current.spec.intervals] == [i.every for i in wanted.spec.intervals]
        and not (current.spec.calendars or current.spec.cron_expressions)
        and (current.policy.overlap, current.policy.catchup_window)
        == (wanted.policy.overlap, wanted.policy.catchup_window)
    )


async def unschedule_gc(client: Client, schedule_id: str = names.PAYLOAD_GC_SCHEDULE_ID) -> bool:
    """Delete the schedule (a run under way finishes); False when there was none."""
    return await delete_schedule(client, schedule_id)
