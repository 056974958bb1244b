"""The payload collection's schedule made again before a key retirement can wedge it.

The server hands each scheduled run the failure of the last run that failed since the last one
that succeeded (``ContinuedFailure``), and the worker decodes it before the run's code starts. A
failure is encrypted like any payload (its message and stack: the failure converter's encoded
attributes), so once its key was retired every later run failed its first workflow task until
it timed out; a run that times out changes nothing the schedule hands on, so no run ever
collected again, and updating the schedule keeps what it hands on. Only deleting the schedule
and creating it again clears it.

So a worker with a key ring, as it starts (every process restarts at each step of a rotation),
looks at the failure the schedule would hand on; when it is under any key but the ring's
current one, it makes the schedule again from its own description (spec, action, policies,
paused or not and the operator's note kept). It reads only the key ids in the payloads'
metadata, so it also mends a schedule already wedged (while the failed run is in visibility:
the namespace's retention). ``gc-payloads --schedule`` does the same.
The cost: the new schedule's creation time restarts the ``PayloadCollectionOverdue`` clock, once
per rotation (shared/payload_gc_watch.py).
"""

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Final

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import HistoryEventFilterType
from temporalio.api.failure.v1 import Failure
from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    WorkflowExecution,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode

from shared import names
from shared.data_converter import key_ring_of
from shared.encryption.codec import KEY_ID_METADATA

# Runs are listed newest first; the last closed one that completed or failed is among the first.
_RUNS_LOOKED_AT = 10
_CLOSE_EVENT = HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT
# How long a deleted schedule's creation is tried again (a server restarting, a lost connection).
CREATE_SECONDS: Final = 30.0


def _payloads(failure: Failure) -> Iterator[Payload]:
    """Every payload of ``failure`` and of its causes."""
    while True:
        if failure.HasField("encoded_attributes"):
            yield failure.encoded_attributes
        for info in ("application_failure_info", "timeout_failure_info", "canceled_failure_info"):
            if failure.HasField(info):
                field = getattr(failure, info)
                details = (
                    field.last_heartbeat_details
                    if info == "timeout_failure_info"
                    else field.details
                )
                yield from details.payloads
        if not failure.HasField("cause"):
            return
        failure = failure.cause


def failure_key_ids(failure: Failure) -> set[str]:
    """The keys ``failure``'s payloads are encrypted under (by their metadata alone)."""
    return {
        p.metadata[KEY_ID_METADATA].decode("ascii", "replace")
        for p in _payloads(failure)
        if KEY_ID_METADATA in p.metadata
    }


async def handed_on_failure_keys(client: Client, schedule_id: str) -> set[str]:
    """The keys of the failure the schedule would hand its next run: the last closed run that
    completed or failed, when it failed after the schedule was made (a schedule made since
    hands nothing on). Empty when there is none, or that run has left visibility."""
    handle = client.get_schedule_handle(schedule_id)
    made = (await handle.describe()).info.created_at
    query = (
        f"TemporalScheduledById = '{schedule_id}' AND "
        "(ExecutionStatus = 'Completed' OR ExecutionStatus = 'Failed')"
    )
    last: WorkflowExecution | None = None
    async for run in client.list_workflows(query, limit=_RUNS_LOOKED_AT):
        if run.close_time and (
            last is None or (last.close_time and run.close_time > last.close_time)
        ):
            last = run
    if last is None or last.status != WorkflowExecutionStatus.FAILED:
        return set()
    if last.close_time is None or last.close_time < made:
        return set()
    run = client.get_workflow_handle(last.id, run_id=last.run_id)
    async for event in run.fetch_history_events(event_filter_type=_CLOSE_EVENT):
        if event.HasField("workflow_execution_failed_event_attributes"):
            return failure_key_ids(event.workflow_execution_failed_event_attributes.failure)
    return set()


async def renew_before_retirement(
    client: Client, schedule_id: str = names.PAYLOAD_GC_SCHEDULE_ID
) -> str | None:
    """Make the schedule again when the failure it hands on is under a key other than the
    ring's current one (module docstring), and say so; None when nothing needed doing: no
    ring, no schedule, nothing handed on, or under the current key."""
    ring = key_ring_of(client.data_converter)
    if ring is None:
        return None
    try:
        keys = await handed_on_failure_keys(client, schedule_id)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None  # no schedule
        raise
    if not keys - {ring.current}:
        return None
    handle = client.get_schedule_handle(schedule_id)
    try:
        described = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None  # removed meanwhile (an operator, or another worker remaking it)
        raise
    # Once deleted, it is made again even if this process is told to stop meanwhile: a schedule
    # deleted and never made again collects nothing, and no alert would say so (a removed
    # schedule is an operator's choice to the watch).
    remade = asyncio.ensure_future(_remake(client, schedule_id, described.schedule))
    try:
        made = await asyncio.shield(remade)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(remade), CREATE_SECONDS)
        raise
    if not made:
        return None
    return (
        f"made the payload collection's schedule {schedule_id} again: the failed run it would "
        f"hand on is encrypted under key {', '.join(sorted(keys))}, not the current "
        f"{ring.current}, and no run could read it once that key is retired (docs/privacy.md)"
    )


async def delete_schedule(client: Client, schedule_id: str) -> bool:
    """Delete the schedule (a run under way finishes); False when there was none."""
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _remake(client: Client, schedule_id: str, schedule: Schedule) -> bool:
    """Delete the schedule and create it again from ``schedule``; False when another process
    deleted it first (another worker remaking it, or an operator's ``--unschedule``: neither is
    undone here)."""
    if not await delete_schedule(client, schedule_id):
        return False
    deadline = time.monotonic() + CREATE_SECONDS
    delay = 0.5
    while True:
        try:
            await client.create_schedule(schedule_id, schedule)
            return True
        except ScheduleAlreadyRunningError:
            return True  # made already (an operator's --schedule right after the delete)
        except RPCError as err:
            if time.monotonic() + delay > deadline:
                every = ", ".join(f"{i.every.total_seconds():g}s" for i in schedule.spec.intervals)
                raise RPCError(
                    f"the payload collection's schedule {schedule_id} was deleted to be made "
                    f"again and could not be created ({err.message}): make it with `python -m "
                    f"starter gc-payloads --yes --schedule {every or '1d'}`",
                    err.status,
                    err.raw_grpc_status,
                ) from err
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
