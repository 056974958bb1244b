"""Whether the scheduled payload collection keeps up, for the workers' gauges.

``gc-payloads --yes --schedule`` (starter/gc_schedule.py) is there so that stored payloads of
deleted workflows (an erased customer's text among them) do not stay for ever. A schedule that
stops collecting says nothing by itself: runs that fail, time out, are skipped, or wait for a
worker of a build that does not know ``PayloadGc``. So each worker's gauge loop asks the server
(a describe of the schedule and one visibility list, once a minute) and sets:

- ``tickets_payload_gc_every_seconds``: the schedule's interval (the gap between its next two
  runs, whatever its spec), 0 when there is no schedule or it is paused (an operator's choice);
- ``tickets_payload_gc_current_since_timestamp_seconds``: the later of the last successful run's
  close and the schedule's last change (a new schedule has had no chance to run yet).

PayloadCollectionOverdue (deploy/prometheus/rules.yml) fires when that is older than the
interval plus two hours; PayloadCollectionUnwatched when no worker has had an answer for 15
minutes (``tickets_payload_gc_checked_timestamp_seconds``). Every worker reports the same values:
rules take ``max``.
"""

from dataclasses import dataclass
from datetime import datetime

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from shared import names

# Enough of the latest runs to find the latest that completed (the list's order is the
# visibility store's); a run ends before the next starts (overlap SKIP).
RUNS_READ = 10


@dataclass(frozen=True)
class CollectionWatch:
    every_seconds: float  # 0: no schedule, or paused
    current_since: float  # Unix seconds; 0 when there is no schedule


NOT_SCHEDULED = CollectionWatch(0.0, 0.0)


async def watch_collection(
    client: Client, schedule_id: str = names.PAYLOAD_GC_SCHEDULE_ID
) -> CollectionWatch:
    try:
        described = await client.get_schedule_handle(schedule_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return NOT_SCHEDULED
        raise
    upcoming = described.info.next_action_times
    if described.schedule.state.paused or len(upcoming) < 2:
        return NOT_SCHEDULED
    since: datetime = described.info.last_updated_at or described.info.created_at
    since = max(since, described.info.created_at)
    query = f"TemporalScheduledById = '{schedule_id}' AND ExecutionStatus = 'Completed'"
    async for run in client.list_workflows(query, limit=RUNS_READ):
        if run.close_time is not None and run.close_time > since:
            since = run.close_time
    return CollectionWatch((upcoming[1] - upcoming[0]).total_seconds(), since.timestamp())
