"""``python -m starter gc-payloads --yes --schedule 1d`` (and ``--unschedule``): the payload
collection on a Temporal schedule, instead of a cron job on some host.

The schedule (id ``payload-gc``) starts the ``PayloadGc`` workflow (workflows/payload_gc.py) on
the tickets queue every interval; a worker of that queue runs the collection with its own
client and payload store, as ``gc-payloads --yes`` with the same ``--grace`` would. Running the
command again replaces the interval and the grace. Each run is a workflow ``payload-gc-<time it
was due>`` whose result is the report of ``gc-payloads --json`` (a run that could not check some
owners fails, naming them); ``shared/payload_gc_watch.py`` tells the workers' gauges when one
last succeeded (alert PayloadCollectionOverdue). A run never starts while the previous one still
runs, none outlasts its interval, and after an outage the server starts one missed run, not
every one. docs/payloads.md.
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
from temporalio.service import RPCError, RPCStatusCode

from shared import names
from shared.payload_gc import GcRequest

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
    created: bool  # False: an existing schedule was updated
    next_runs: list[datetime]


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
            # A run never outlasts its interval: one stuck (a history read that hangs) ends,
            # and the next is not skipped for it.
            execution_timeout=every,
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
    """Create the schedule, or replace an existing one's interval, grace and queue."""
    converter = client.data_converter.payload_converter
    schedule = gc_schedule(converter, every, grace, task_queue, schedule_id)
    try:
        handle = await client.create_schedule(schedule_id, schedule)
        created = True
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        # Two operators rescheduling at once: the last one's schedule stands (the SDK sends no
        # conflict token), and either is a whole schedule.
        def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
            # Paused by an operator stays paused (with the operator's note).
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        created = False
    described = await handle.describe()
    return Scheduled(schedule_id, created, list(described.info.next_action_times))


async def unschedule_gc(client: Client, schedule_id: str = names.PAYLOAD_GC_SCHEDULE_ID) -> bool:
    """Delete the schedule (a run under way finishes); False when there was none."""
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
