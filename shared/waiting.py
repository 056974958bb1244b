"""Waiting for tickets to come to rest, at a cost that does not grow with their number.

Each interval costs one visibility request for the whole set; each ticket's full view is
fetched once, when it rests (see ``wait_settled``).
"""

import asyncio
from typing import NamedTuple

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from policy.transitions import SETTLED_STATES, TicketState
from shared import names
from shared import search_attributes as sa
from shared.operation_errors import NoWorker, OperationError, TicketNotFound, TicketUnreadable
from shared.operations import ticket_status
from shared.pending_calls import PendingCall, stranded
from shared.queue_pollers import unrouted_hint, workers_polling
from shared.review import ReviewReceipt
from shared.ticket_status import TicketReading, read_ticket, waiting_on
from shared.view import TicketView

# While waiting for tickets to settle, how often to make sure a worker is still polling.
WORKER_CHECK_SECONDS = 10.0
# What a server answers for a moment and not after: the worker checks are asked again.
TRANSIENT_STATUSES = frozenset(
    {
        RPCStatusCode.CANCELLED,
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
    }
)

# Waiting for many tickets asks the visibility store, once per interval, which of them have come
# to rest: one List request whatever the number of tickets (a status query per ticket per
# interval would be a round trip to a worker each, and 600 requests a second for 300 tickets).
# At most this many ids go into one query; the rest join as the first ones settle.
MAX_IDS_PER_VISIBILITY_QUERY = 500
# Status queries (one per ticket, once it rests) in flight at once.
STATUS_FETCH_CONCURRENCY = 16
# When the wait's time is up, how long it may still read the pending tickets' views (the ones
# not read then are reported pending without one), and how many it asks for at a time.
LAST_LOOK_SECONDS = 10.0
LAST_LOOK_CHUNK = 4 * STATUS_FETCH_CONCURRENCY


def settled_query(ticket_ids: list[str]) -> str:
    """A visibility query for those of ``ticket_ids`` that rest: their state is a settled one,
    or their workflow has closed (a terminated ticket never reaches a settled state). Ticket
    ids match ``TICKET_ID_PATTERN`` (letters, digits, ``._-``), so they are quoted safely."""
    ids = ", ".join(f"'{names.ticket_workflow_id(t)}'" for t in ticket_ids)
    states = ", ".join(f"'{s.value}'" for s in sorted(SETTLED_STATES))
    return (
        f"WorkflowId IN ({ids}) AND "
        f"({sa.TICKET_STATE.name} IN ({states}) OR ExecutionStatus != 'Running')"
    )


async def settled_among(client: Client, ticket_ids: list[str]) -> dict[str, set[str]]:
    """Which of ``ticket_ids`` have a run that rests now, with those runs' ids, by one
    visibility request (the first page; a ticket whose runs do not fit is seen next time).
    A ticket submitted again after it failed has its failed run here while the new one works."""
    if not ticket_ids:
        return {}
    size = min(len(ticket_ids) * 2, 1_000)  # room for a ticket's earlier runs
    listing = client.list_workflows(settled_query(ticket_ids), page_size=size)
    await listing.fetch_next_page()
    runs: dict[str, set[str]] = {}
    for e in listing.current_page or []:
        runs.setdefault(names.ticket_id_from_workflow_id(e.id), set()).add(e.run_id or "")
    return runs


class Readings(NamedTuple):
    views: dict[str, TicketView]  # the tickets that rest, by id
    # Read, but their newest run does not rest: as they are now, with that run's id.
    working: dict[str, tuple[TicketView, str | None]]


async def ticket_statuses(
    client: Client,
    ticket_ids: list[str],
    unreadable: dict[str, str] | None = None,
    within: float | None = None,
) -> Readings:
    """The full view of each ticket, a bounded number of queries at a time. A ticket whose
    query failed (no worker answered in time, a passing error) is left out, to be asked again;
    an unknown ticket raises TicketNotFound, one whose worker fails the query or whose answer
    cannot be decrypted here TicketUnreadable (or, given ``unreadable``, is put there with the
    reason, and the others are returned). Given ``within`` seconds, the reads not done by then
    are left out too, and those done are kept."""
    gate = asyncio.Semaphore(STATUS_FETCH_CONCURRENCY)

    async def one(ticket_id: str) -> TicketReading:
        async with gate:
            return await read_ticket(client, ticket_id, calls=False)

    tasks = [asyncio.ensure_future(one(t)) for t in ticket_ids]
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=None if within is None else max(within, 0))
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    results = [None if t.cancelled() else (t.exception() or t.result()) for t in tasks]
    read = Readings({}, {})
    for ticket_id, result in zip(ticket_ids, results, strict=True):
        if result is None:
            continue  # not read in time: asked again
        if isinstance(result, TicketUnreadable) and unreadable is not None:
            unreadable[ticket_id] = str(result)
        elif isinstance(result, (TicketNotFound, TicketUnreadable)):
            raise result  # asking again would not help: say so now
        if isinstance(result, TicketReading):
            resting = result.view.state in SETTLED_STATES or result.workflow_status != "RUNNING"
            if resting:
                read.views[ticket_id] = result.view
            else:
                read.working[ticket_id] = (result.view, result.run_id)
        elif not isinstance(result, (OperationError, RPCError)):
            raise result
    return read


async def wait_settled(
    client: Client,
    ticket_ids: list[str],
    timeout: float,
    interval: float = 0.5,
    *,
    require_worker: bool = False,
    unreadable: dict[str, str] | None = None,
) -> dict[str, TicketView]:
    """Wait until every ticket rests: completed, rejected, failed, or waiting for a person (or
    its workflow closed otherwise). Each interval costs one visibility request however many
    tickets wait; each ticket's full view is fetched once, when it rests. Returns what it has
    when ``timeout`` seconds pass (unsettled tickets in their current state). With
    ``require_worker``, raises NoWorker as soon as no worker polls the tickets queue (at once,
    and every WORKER_CHECK_SECONDS while waiting) instead of waiting out the timeout. Given
    ``unreadable``, a ticket whose view cannot be read (not decrypted here, or its worker
    failing the query) goes there with the reason instead of ending the wait for all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    views: dict[str, TicketView] = {}
    pending = list(dict.fromkeys(ticket_ids))
    # A ticket at rest whose status query failed (no worker answered, a ticket closed before
    # its first workflow task) is asked again after a backoff, not every interval.
    retry_at: dict[str, tuple[float, float]] = {}
    # Runs the listing found at rest that are not the ticket's newest (it was submitted again
    # after failing, and the new run works): not taken for the ticket resting again.
    older: dict[str, set[str]] = {}
    next_worker_check = loop.time()
    while pending:
        if require_worker and loop.time() >= next_worker_check:
            try:
                await _require_workers(client, pending)
                next_worker_check = loop.time() + WORKER_CHECK_SECONDS
            except RPCError as err:
                # The check is advice: a server that cannot answer it this moment (a request
                # it cancelled, a restart) is asked again at the next interval, and the wait
                # goes on (it ended the whole wait with "operation was canceled").
                if err.status not in TRANSIENT_STATUSES:
                    raise
                next_worker_check = loop.time() + interval
        watched = pending[:MAX_IDS_PER_VISIBILITY_QUERY]
        now = loop.time()
        runs = await settled_among(client, watched)
        rested = {t for t, ids in runs.items() if ids - older.get(t, set())}
        due = [t for t in watched if t in rested and retry_at.get(t, (0.0, 0.0))[0] <= now]
        if due:
            # Within the time left (at least an interval): each query may wait out its 10 s
            # timeout, 16 at a time (a worker just gone, still listed as polling), and 150
            # tickets at rest held `--timeout 5` for 102 s. Those read in time are kept; the
            # others are asked again, or in the last look.
            fetched, working = await ticket_statuses(
                client, due, unreadable, within=max(deadline - loop.time(), interval)
            )
            views.update(fetched)
            for ticket_id, (_, newest) in working.items():
                # The listing's runs but the newest are older ones; the newest itself listed
                # at rest while its query says it works is the listing behind: asked again.
                older.setdefault(ticket_id, set()).update(runs[ticket_id] - {newest or ""})
            superseded = {t for t, (_, newest) in working.items() if newest not in runs[t]}
            for ticket_id in set(due) - set(fetched) - superseded:
                last = retry_at.get(ticket_id, (0.0, interval / 2))[1]
                backoff = min(last * 2, WORKER_CHECK_SECONDS)
                retry_at[ticket_id] = (now + backoff, backoff)
            pending = [t for t in pending if t not in fetched and t not in (unreadable or {})]
        if pending and loop.time() >= deadline:
            # Out of time: what the rest look like now (which also names an unknown ticket).
            views.update(await _last_look(client, pending, unreadable))
            break
        if pending:
            await asyncio.sleep(interval)
    return views


async def _last_look(
    client: Client, pending: list[str], unreadable: dict[str, str] | None
) -> dict[str, TicketView]:
    """The views of tickets still pending when the wait's time is up, as many as
    LAST_LOOK_SECONDS allows (a few hundred): all of them was a query each, 16 at a time, and
    with its worker gone each took its 10 s timeout: `--timeout 600` over 10,000 pending
    tickets returned after another hour and three-quarters."""
    loop = asyncio.get_running_loop()
    until = loop.time() + LAST_LOOK_SECONDS
    views: dict[str, TicketView] = {}
    for start in range(0, len(pending), LAST_LOOK_CHUNK):
        left = until - loop.time()
        if left <= 0:
            break
        part = pending[start : start + LAST_LOOK_CHUNK]
        try:
            last = await asyncio.wait_for(ticket_statuses(client, part, unreadable), left)
        except TimeoutError:
            break
        views.update(last.views)
        views.update({t: view for t, (view, _) in last.working.items()})
    return views


async def _require_workers(client: Client, pending: list[str]) -> None:
    """NoWorker when nothing polls the tickets queue, or the queue where the first pending
    ticket's agent call waits."""
    if not await workers_polling(client, names.TICKETS_TASK_QUEUE):
        raise NoWorker(
            f"no worker is polling the {names.TICKETS_TASK_QUEUE} task queue, so "
            f"{len(pending)} ticket(s) wait on the server until one starts: run "
            "`python -m worker` against this server and namespace"
            + await unrouted_hint(client, names.TICKETS_TASK_QUEUE)
        )
    if stranded := await _stranded_call(client, pending[0]):
        raise NoWorker(
            f"no worker is polling the {stranded.task_queue} task queue, where ticket "
            f"{pending[0]}'s {stranded.activity} call waits, so it and the others "
            f"({len(pending)} ticket(s) in all) wait until one starts: run a worker that "
            f"polls it (`python -m worker --queues {stranded.task_queue}`, or one "
            "without --queues)"
        )


async def _stranded_call(client: Client, ticket_id: str) -> PendingCall | None:
    """A call of the ticket that waits on a queue no worker polls and will not leave it (no
    fallback route to hand it to): with the workflows' worker up but not the agents' (workers
    split by queue), tickets waited silently until the timeout. One description per check,
    whatever the number of tickets."""
    try:
        calls = await waiting_on(client, ticket_id)
    except (OperationError, RPCError):
        return None  # not started yet, or a passing error: the next check asks again
    return stranded(calls)


async def wait_review_applied(
    client: Client, ticket_id: str, receipt: ReviewReceipt, timeout: float, interval: float = 0.3
) -> TicketView:
    """After a review is accepted: wait until the workflow has acted on it and the ticket rests
    again (a rework goes through the agents and comes back for review)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view = await ticket_status(client, ticket_id)
        acted = any(
            t.from_state == TicketState.AWAITING_REVIEW and t.at >= receipt.accepted_at
            for t in view.transitions
        )
        # DELIVERING: the decision is applied, its answer queued for delivery with retries
        # (which may take hours); the review's effect is there to show.
        applied = view.state in SETTLED_STATES or view.state is TicketState.DELIVERING
        if (acted and applied) or loop.time() >= deadline:
            return view
        await asyncio.sleep(interval)
