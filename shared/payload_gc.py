"""Payload garbage collection: delete stored payloads that no open or retained workflow refers to
any more. ``python -m starter gc-payloads`` runs it from the command line (and schedules it);
the ``PayloadGc`` workflow runs it on a worker (activities/payload_gc.py).

The payload store records, for every payload, which workflow stored it (its owner; one payload
may have several). For each owner of this namespace:

- **gone**: Temporal no longer knows the workflow (describe answers NOT_FOUND: closed and past
  the namespace's retention, or deleted). Its ownership goes. A child workflow (``parent/child``
  ids, as our orchestrator and swarm children have) stays while its parent is retained, and so
  does any payload of it that a retained owner's history refers to (a batch's ticket's input).
- **still known**: its histories (every run visibility lists) are read, and a payload it owns
  that none of them refers to goes: large status-query answers (a query's answer never enters a
  history, and is read once), update inputs a validator refused, the input of a start that was
  refused as a duplicate.

Either way only what was last stored longer ago than ``--grace`` (1 hour) goes: a payload stored
for a workflow task still in progress, or a start request on its way to the server, is not yet in
any history. Then each payload with no owner left is deleted; one still owned by any other
workflow stays. Owners the store cannot check (an activity's heartbeat, a store with no target,
another namespace's workflows) are left alone. Dry run by default. docs/payloads.md.
"""

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Final

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.service import RPCError

from shared.history_references import (
    child_runs,
    codec_of,
    listed_runs,
    referenced_hashes,
    run_events,
    workflow_exists,
)
from shared.off_loop import in_thread_if
from shared.stores.payloads import REPLAYER_NAMESPACE, ContentAddressedDriver, Ownership, Release

DEFAULT_GRACE: Final = timedelta(hours=1)
# A workflow task takes seconds and a start request less: a minute is the least that is safe.
MIN_GRACE: Final = timedelta(minutes=1)
# Owners checked at once (a describe, then a few history reads each).
CHECK_CONCURRENCY: Final = 16
# REPLAYER_NAMESPACE (defined with the drivers' Release, shared/stores/payloads.py, and imported
# from here too): payloads a replayer stored (one that was not set up to read only) belong to no
# workflow anyone can reach: always collected.
# The owners a report names that it could not check: the rest are counted. A visibility outage
# fails every owner, and the report is a scheduled run's result (a payload in its history).
MAX_PROBLEMS_LISTED: Final = 50
# Ownership rows sorted and counted in a thread from this many on: a store with millions of rows
# takes seconds, and the scheduled collection runs on a worker's event loop.
ROWS_IN_THREAD: Final = 10_000


class GcRequest(BaseModel):
    """A scheduled collection's input (the ``PayloadGc`` workflow's): what it leaves alone."""

    grace_seconds: float = Field(ge=MIN_GRACE.total_seconds())


class GcReport(BaseModel):
    store: str
    namespace: str
    grace_seconds: float
    applied: bool = False
    owners_checked: int = 0
    owners_gone: int = 0
    children_of_retained_parents: int = 0
    released_from_gone_owners: int = 0  # ownership pairs
    # Pairs that their own owner's histories no longer need (gone, or not referring to them)
    # kept: another retained workflow's history refers to the payload (a child's input, stored
    # as the child's, is in its parent's start-child event).
    kept_for_retained_histories: int = 0
    # The same pairs kept because some owner could not be checked (its histories may refer to
    # them): collected by a run that checks them all.
    kept_for_unchecked_owners: int = 0
    released_unreferenced: int = 0  # ownership pairs: query answers and the like
    released_replay_copies: int = 0  # pairs a Replayer stored: nothing ever reads them
    left_alone: int = 0  # pairs of owners this command cannot check
    payloads_to_delete: int = 0
    bytes_to_delete: int = 0
    owner_rows_removed: int = 0  # after --yes
    payloads_deleted: int = 0
    bytes_freed: int = 0
    owners_not_checked: int = 0  # their payloads were kept
    problems: list[str] = Field(default_factory=list)  # the first MAX_PROBLEMS_LISTED of them
    # `gc-payloads` on a database: the data directory's files from before it, collected too
    # (shared.stores.factory.payload_drivers; the schedule's activity collects its store only).
    data_directory: "GcReport | None" = None

    def not_checked(self, problem: str) -> None:
        self.owners_not_checked += 1
        if len(self.problems) < MAX_PROBLEMS_LISTED:
            self.problems.append(problem)


async def _referenced(
    client: Client, workflow_id: str, owned: set[str] | None = None
) -> set[str] | None:
    """The stored payloads any retained run of this workflow refers to, or its children's
    histories do (None: its runs could not be listed, so nothing of it may be judged
    unreferenced). A child's result is stored as its parent's (temporalio stores a child's
    completion for the parent that reads it), and the parent's history refers to it only when
    the run that started the child was still open when it completed: a batch's ticket that
    completed after its batch continued as new or ended is such a child, and its result, the
    ticket's view, was deleted while the ticket's own history still needed it. The children are
    read only while some of ``owned`` (all, when None) is not found yet, several at a time: the
    runs the parent started first, then every run of each child (a reset's new run too)."""
    read = await _runs_read(client, workflow_id)
    if read is None:
        return None
    found, children = read
    if owned is not None and owned <= found:
        return found  # nothing left to look for: a batch of 10,000 tickets reads no child
    found |= await _results_of(client, children)
    if owned is not None and owned <= found:
        return found

    # A child reset into a new run (``redrive`` does that to a batch's ticket) keeps its
    # parent, so the new run's result is stored as the parent's too, and no started event
    # names that run: every run visibility lists under this parent is read too (one query for
    # them all; one per child was 100,000 queries for a batch of 100,000 tickets).
    listed = await child_runs(client, workflow_id)
    if listed is None:
        return None  # its children's runs could not be listed: nothing may be judged unreferenced
    return found | await _results_of(client, set(listed) - children)


async def _results_of(client: Client, runs: set[tuple[str, str]]) -> set[str]:
    """The stored payloads the close events of these (workflow id, run id) runs refer to (a
    running one's: none yet; a gone one's: none), several at a time."""
    gate = asyncio.Semaphore(CHECK_CONCURRENCY)

    async def result_of(child_id: str, child_run: str) -> set[str]:
        async with gate:
            events = await run_events(client, child_id, child_run, close_only=True)
            return await referenced_hashes(events, codec_of(client))

    found: set[str] = set()
    for hashes in await asyncio.gather(*(result_of(c, r) for c, r in sorted(runs))):
        found |= hashes
    return found


async def _runs_read(
    client: Client, workflow_id: str
) -> tuple[set[str], set[tuple[str, str]]] | None:
    """What the retained runs of an existing workflow refer to in their own histories, and the
    children (id, run) they started (None: its runs could not be listed)."""
    listed = await listed_runs(client, workflow_id)
    if listed is None:
        return None
    runs = set(listed)
    runs.add((await client.get_workflow_handle(workflow_id).describe()).run_id)
    found: set[str] = set()
    children: set[tuple[str, str]] = set()
    for run_id in runs:
        events = await run_events(client, workflow_id, run_id)
        found |= await referenced_hashes(events, codec_of(client))
        children |= {
            (started.workflow_execution.workflow_id, started.workflow_execution.run_id)
            for e in events
            if e.HasField("child_workflow_execution_started_event_attributes")
            for started in (e.child_workflow_execution_started_event_attributes,)
        }
    return found, children


async def _runs_refer_to(client: Client, workflow_id: str) -> set[str] | None:
    """The stored payloads the retained runs of an existing workflow refer to in their own
    histories (None: its runs could not be listed). Not its children's: a child's result is
    stored as its parent's, so it is never a gone child's payload."""
    read = await _runs_read(client, workflow_id)
    return None if read is None else read[0]


async def _still_read_by_children(client: Client, owner_id: str) -> set[str] | None:
    """What a gone workflow's children still retained refer to of what it stored (None: they
    could not be listed). A child's result is stored as its parent's: a batch's ticket that
    completed after its batch ended is read through its own history long after the batch is
    past retention, and its view was deleted with the batch's payloads (`status` and the API
    then failed on it with PayloadMissing)."""
    listed = await child_runs(client, owner_id)
    if listed is None:
        return None
    return await _results_of(client, set(listed))


def _checkable(row: Ownership, namespace: str) -> bool:
    return (
        row.owner_kind == "workflow" and bool(row.owner_id) and row.namespace in (None, namespace)
    )


def _sort_rows(
    rows: list[Ownership], namespace: str, cutoff: datetime, report: GcReport
) -> tuple[dict[str, list[Ownership]], list[Release]]:
    """The rows to check, by owner, and the replay copies released at once (counted)."""
    by_owner: dict[str, list[Ownership]] = defaultdict(list)
    releases: list[Release] = []
    for row in rows:
        if row.namespace == REPLAYER_NAMESPACE:
            if row.last_stored_at < cutoff:
                report.released_replay_copies += 1
                releases.append(Release(row.sha256, row.owner_id, cutoff, row.namespace))
        elif _checkable(row, namespace):
            by_owner[row.owner_id].append(row)
        else:
            report.left_alone += 1
    return by_owner, releases


def _count_doomed(rows: list[Ownership], releases: list[Release], report: GcReport) -> None:
    """How many payloads, and bytes, lose their last owner with ``releases``."""
    released: dict[tuple[str, str], list[Release]] = defaultdict(list)
    for release in releases:
        released[(release.sha256, release.owner_id)].append(release)
    owners_left: dict[str, int] = defaultdict(int)
    sizes: dict[str, int] = {}
    for row in rows:
        sizes[row.sha256] = row.size_bytes
        # As the drivers match them (Release.covers): a live row beside a released replay copy
        # of the same pair stays, and its payload with it.
        if not any(r.covers(row.namespace) for r in released[(row.sha256, row.owner_id)]):
            owners_left[row.sha256] += 1
    doomed = {sha for sha, _ in released if owners_left[sha] == 0}
    report.payloads_to_delete = len(doomed)
    report.bytes_to_delete = sum(sizes[sha] for sha in doomed)


async def plan_collection(
    client: Client, driver: ContentAddressedDriver, grace: timedelta
) -> tuple[GcReport, list[Release]]:
    cutoff = await driver.clock() - grace  # the clock that wrote last_stored_at
    report = GcReport(
        store=driver.describe(), namespace=client.namespace, grace_seconds=grace.total_seconds()
    )
    rows = await driver.ownership()
    large = len(rows) >= ROWS_IN_THREAD
    by_owner, releases = await in_thread_if(
        large, _sort_rows, rows, client.namespace, cutoff, report
    )
    report.owners_checked = len(by_owner)
    # What the retained owners' histories refer to, and what gone owners would release: a
    # gone owner's payload that some retained history refers to stays (below).
    seen: set[str] = set()
    from_gone: list[Release] = []
    from_retained: list[Release] = []

    # What each retained parent of a gone child refers to, read once per collection.
    parents_read: dict[str, asyncio.Task[set[str] | None]] = {}

    async def judge(owner_id: str, owned: list[Ownership]) -> None:
        try:
            if not await workflow_exists(client, owner_id):
                parent = owner_id.rpartition("/")[0]
                read_by_parent: set[str] = set()
                if parent and await workflow_exists(client, parent):
                    report.children_of_retained_parents += 1
                    # Its newest run is gone, but an older one may be retained (deleting the
                    # current run does not make an earlier one current, so describe says
                    # gone): then everything stays, as before, its activities' results too.
                    still = await listed_runs(client, owner_id)
                    if still is None or still:
                        return
                    # No run of it is left: only what the parent's retained runs refer to
                    # stays (its input in their start-child events). The rest was a gone run's
                    # (an erased customer's ticket whose id a later ticket took, which started
                    # no such child), kept whole for as long as that later ticket was retained
                    # (a review, 2026-12-08).
                    if parent not in parents_read:
                        parents_read[parent] = asyncio.create_task(_runs_refer_to(client, parent))
                    by_parent = await parents_read[parent]
                    if by_parent is None:
                        report.not_checked(
                            f"{owner_id}: gone, and the runs of its parent could not be listed "
                            "(an id a visibility query cannot quote); its payloads were kept"
                        )
                        return
                    read_by_parent = by_parent
                else:
                    report.owners_gone += 1
                kept = await _still_read_by_children(client, owner_id)
                if kept is None:
                    report.not_checked(
                        f"{owner_id}: gone, but its children could not be listed (an id a "
                        "visibility query cannot quote); its payloads were kept"
                    )
                    return
                gone = [
                    r
                    for r in owned
                    if r.last_stored_at < cutoff
                    and r.sha256 not in kept
                    and r.sha256 not in read_by_parent
                ]
                from_gone.extend(Release(r.sha256, owner_id, cutoff, r.namespace) for r in gone)
                return
            referenced = await _referenced(client, owner_id, {r.sha256 for r in owned})
        except RPCError as err:
            report.not_checked(f"{owner_id}: the server answered: {err.message}")
            return
        except Exception as err:  # a history that cannot be decoded (a key missing, ...)
            report.not_checked(f"{owner_id}: {' '.join(str(err).split())[:200]}")
            return
        if referenced is None:
            # Said, as a gone owner whose children cannot be listed is: kept silently, its
            # payloads were never collected and the command exited 0.
            report.not_checked(
                f"{owner_id}: its runs could not be listed (an id a visibility query cannot "
                "quote); its payloads were kept"
            )
            return
        seen.update(referenced)
        unreferenced = [
            r for r in owned if r.sha256 not in referenced and r.last_stored_at < cutoff
        ]
        # Judged with every owner's history read, as a gone owner's are: a retained owner's
        # payload its own histories do not mention may be another's event's (a batch run again
        # under its id: the refused start of a ticket that exists stores the child's input as
        # the ticket's, and only the batch's start-child event refers to it; it was released,
        # and the Web UI and the codec server failed on that event: a review, 2026-12-07).
        from_retained.extend(Release(r.sha256, owner_id, cutoff, r.namespace) for r in unreferenced)

    # CHECK_CONCURRENCY checkers taking owners from one iterator: a task per owner at once was
    # a million tasks for a million owners, on the worker that runs the scheduled collection.
    owners = iter(by_owner.items())

    async def checker() -> None:
        for owner_id, owned in owners:
            await judge(owner_id, owned)

    await asyncio.gather(*(checker() for _ in range(CHECK_CONCURRENCY)))
    # A child's input is stored as the child's (StorageDriverStoreContext's target), and its
    # parent's start-child event refers to it for as long as the parent's run is retained: a
    # batch's ticket (``ticket-<id>``: no parent in its id) past retention while its batch's
    # run was not lost its input from under the batch's history (the Web UI and the codec
    # server then failed on that event). Only a parent that owns a payload itself is read, as a
    # batch whose tickets are this large does (its own input holds them); and while any owner
    # could not be checked, what its histories refer to is not known: gone owners keep theirs.
    unknown = report.owners_not_checked > 0

    def kept(release: Release) -> bool:
        """Whether another history may still need it (counted as such)."""
        if unknown:
            report.kept_for_unchecked_owners += 1
        elif release.sha256 in seen:
            report.kept_for_retained_histories += 1
        else:
            return False
        return True

    for release in from_gone:
        if not kept(release):
            report.released_from_gone_owners += 1
            releases.append(release)
    for release in from_retained:
        if not kept(release):
            report.released_unreferenced += 1
            releases.append(release)
    await in_thread_if(large, _count_doomed, rows, releases, report)
    return report, releases


async def collect_payloads(
    client: Client, driver: ContentAddressedDriver, grace: timedelta, *, really: bool
) -> GcReport:
    report, releases = await plan_collection(client, driver, grace)
    if really:
        collected = await driver.collect(releases)
        report.applied = True
        report.owner_rows_removed = collected.owner_rows
        report.payloads_deleted = collected.payloads
        report.bytes_freed = collected.bytes
    return report
