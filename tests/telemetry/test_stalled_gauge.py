"""The stalled-tickets gauge's visibility query runs on the real server's visibility store: a
running ticket counts once it has been in an agent state past the threshold, NEW by its run's
start, the later states by TicketStateSince (shared/worker_gauges.py)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.view import TicketRequest
from shared.worker_gauges import queued_query, stalled_query
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket

FIFTEEN = timedelta(minutes=15)


async def parked(
    client: Client, state: TicketState, since: datetime | None = None
) -> WorkflowHandle[Any, Any]:
    """A ticket on a queue no worker polls (as behind a provider queue nobody serves), with the
    search attributes its workflow would have set."""
    ticket = make_ticket()
    pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(sa.TICKET_STATE, state.value)]
    if since is not None:
        pairs.append(SearchAttributePair(sa.TICKET_STATE_SINCE, since))
    return await client.start_workflow(
        names.TICKET_WORKFLOW,
        TicketRequest(ticket=ticket),
        id=names.ticket_workflow_id(ticket.ticket_id),
        task_queue=f"nobody-{uuid.uuid4().hex[:8]}",
        search_attributes=TypedSearchAttributes(pairs),
    )


async def test_tickets_count_as_stalled_by_when_they_entered_their_state(
    dev_env: WorkflowEnvironment,
) -> None:
    client = dev_env.client
    now = datetime.now(UTC)
    new = await parked(client, TicketState.NEW)
    long_classified = await parked(client, TicketState.CLASSIFIED, now - timedelta(minutes=20))
    # Back with the agents (a rework) ten minutes after its run started: counted from then.
    reworked = await parked(client, TicketState.RESOLVING, now + timedelta(minutes=10))
    # Published before TicketStateSince existed (running through the upgrade): by its start.
    older = await parked(client, TicketState.TRIAGED)
    handles = (new, long_classified, reworked, older)

    ids = " OR ".join(f"WorkflowId = '{h.id}'" for h in handles)

    async def counted(at: datetime) -> set[str]:
        found = client.list_workflows(f"{stalled_query(at, FIFTEEN)} AND ({ids})")
        return {w.id async for w in found}

    async def all_indexed() -> bool:
        # Visibility is eventually consistent: a record shows with the attributes it started with.
        return len([w async for w in client.list_workflows(ids)]) == len(handles)

    try:
        await wait_until(all_indexed, what="the four tickets in visibility")
        # Sixteen minutes on: NEW counts by its run's start; the reworked one, whose run is as
        # old, has been back with the agents for six minutes only.
        assert await counted(now + timedelta(minutes=16)) == {new.id, long_classified.id, older.id}
        assert await counted(now) == {long_classified.id}
    finally:
        for handle in handles:
            await handle.terminate("test over")


async def test_answers_count_as_queued_by_when_they_entered_delivering(
    dev_env: WorkflowEnvironment,
) -> None:
    # The alert on queued answers read the state's head count: above zero for good on a busy
    # helpdesk whose channel fails a first attempt now and then, every answer out in minutes.
    client = dev_env.client
    now = datetime.now(UTC)
    long_queued = await parked(client, TicketState.DELIVERING, now - timedelta(minutes=40))
    just_queued = await parked(client, TicketState.DELIVERING, now - timedelta(minutes=2))
    # Published before TicketStateSince existed: by its start.
    older = await parked(client, TicketState.DELIVERING)
    long_resolving = await parked(client, TicketState.RESOLVING, now - timedelta(minutes=40))
    handles = (long_queued, just_queued, older, long_resolving)
    ids = " OR ".join(f"WorkflowId = '{h.id}'" for h in handles)

    async def counted(at: datetime) -> set[str]:
        found = client.list_workflows(f"{queued_query(at)} AND ({ids})")
        return {w.id async for w in found}

    async def all_indexed() -> bool:
        return len([w async for w in client.list_workflows(ids)]) == len(handles)

    try:
        await wait_until(all_indexed, what="the four tickets in visibility")
        assert await counted(now) == {long_queued.id}
        assert await counted(now + timedelta(minutes=31)) == {
            long_queued.id,
            just_queued.id,
            older.id,
        }
    finally:
        for handle in handles:
            await handle.terminate("test over")
