"""Running batches that have yet to start a customer's tickets, for ``erase``.

A batch starts its tickets a window at a time: one of the customer's not started yet has no
ticket workflow to erase, and the batch would run it (and send its answer) after the erasure.
``erase`` names such a batch and fails until it is cancelled or has ended.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from shared import names
from shared.encryption.codec import UnknownEncryptionKey
from shared.history_references import patch_id
from shared.ticket_input import ticket_from_mapping
from shared.tickets import Ticket
from starter.erase_find import Customer, started_event
from workflows.batch_input import BatchTicket
from workflows.batch_patches import RESTARTS_AS_SUBMITTED

# Batch inputs read at once (as erase_find reads tickets').
READ_CONCURRENCY = 16


async def pending_in_batches(
    client: Client,
    customer: Customer,
    unreadable: list[str],
    taken: dict[str, list[str]] | None = None,
) -> dict[str, list[str]]:
    """The running batches whose input holds tickets of the customer they have not started yet
    (batch id -> those ticket ids): no ticket workflow of theirs exists to erase, and the batch
    starts them later. Read from each running batch's latest run: its input carries the whole
    list and the position its run began at (shared/batch.py BatchState), its history the
    tickets that run has started since (one it started, and this erasure deleted, is not
    pending). A batch whose input cannot be read goes to ``unreadable``. ``taken``, when
    given, gets the customer's tickets each batch has started (before its run's position, or
    by its run): ``erase`` checks that it found each one still there (a batch may start one
    between the erasure's listing and this read)."""
    query = f"WorkflowType = '{names.BATCH_WORKFLOW}' AND ExecutionStatus = 'Running'"
    pending: dict[str, list[str]] = {}
    for execution in [e async for e in client.list_workflows(query)]:
        try:
            tickets, state = await _batch_input(client, execution.id, execution.run_id)
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            begun = await _begun(client, [e async for e in handle.fetch_history_events()])
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # ended and gone meanwhile
                unreadable.append(f"{execution.id}: {err.message}")
            continue
        except Exception as err:  # an unknown key, a payload the store lost
            unreadable.append(f"{execution.id}: {err}")
            continue
        position = state.get("position") if isinstance(state, dict) else None
        position = position if isinstance(position, int) and position >= 0 else 0
        # Each read as the batch reads it (as_batch_reads); an item that is no ticket is never
        # started.
        owned = [
            (place, ticket.ticket_id)
            for place, ticket in (
                (place, as_batch_reads(t, place))
                for place, t in enumerate(tickets)
                if taken is not None or place >= position
            )
            if ticket is not None and customer.owns(ticket.model_dump(mode="json"))
        ]
        waiting = [
            ticket_id
            for place, ticket_id in owned
            if place >= position and names.ticket_workflow_id(ticket_id) not in begun
        ]
        if waiting:
            pending[execution.id] = waiting
        if taken is not None and (begun_here := [i for _, i in owned if i not in waiting]):
            taken[execution.id] = begun_here
    return pending


async def _batch_input(client: Client, workflow_id: str, run_id: str) -> tuple[list[Any], Any]:
    """A batch run's input: its list of tickets (as given) and its state."""
    started = await started_event(client, workflow_id, run_id)
    tickets, state = await client.data_converter.decode(
        started.input.payloads[:2], [list[Any], dict[str, Any]]
    )
    return tickets, state


async def batches_holding(client: Client, customer: Customer, unreadable: list[str]) -> set[str]:
    """Every batch, running or closed, whose input holds an item of the customer's, valid or
    not: its history keeps the item's text until its retention ends. ``erase`` reports them as
    kept; it named only the batches of the tickets it found, so one closed before it started
    the customer's ticket, or holding an item that was no ticket, went unsaid (a review,
    2026-12-07). The latest run of each (every run's input carries the whole list)."""
    latest: dict[str, Any] = {}
    async for execution in client.list_workflows(f"WorkflowType = '{names.BATCH_WORKFLOW}'"):
        known = latest.get(execution.id)
        if known is None or execution.start_time > known.start_time:
            latest[execution.id] = execution
    gate = asyncio.Semaphore(READ_CONCURRENCY)

    async def holds(workflow_id: str, run_id: str) -> bool:
        async with gate:
            try:
                tickets, _ = await _batch_input(client, workflow_id, run_id)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:  # gone meanwhile
                    unreadable.append(f"{workflow_id}: {err.message}")
                return False
            except UnknownEncryptionKey:
                # Under a key no process holds any more: unreadable to anyone, as erased.
                return False
            except Exception as err:  # a payload the store lost, one that does not decode
                unreadable.append(f"{workflow_id}: {err}")
                return False
        return any(_owned(customer, item, place) for place, item in enumerate(tickets))

    ordered = sorted(latest.items())
    found = await asyncio.gather(*(holds(wid, e.run_id) for wid, e in ordered))
    return {wid for (wid, _), held in zip(ordered, found, strict=True) if held}


def as_batch_reads(item: Any, place: int) -> Ticket | None:
    """A batch's item as the batch reads it when its turn comes (workflows/batch_input.py
    BatchTicket, the rule that leaves a newer version's unknown fields out), or None for one it
    never starts. It was read by the intake's rules, which refuse what the batch takes (an
    unknown field, a customer id with a tab) and take what it refuses (an ``id`` alias): the
    customer's ticket a running batch would start after the erasure was not named pending, and
    erase finished while the batch went on to run it and send its answer (a review,
    2026-12-07)."""
    if not isinstance(item, dict):
        return None
    read = BatchTicket(item, place).lenient
    return read if isinstance(read, Ticket) else None


def _owned(customer: Customer, item: Any, place: int) -> bool:
    """Whether a batch's item is the customer's: read as the batch reads it, or, for one that
    is no ticket, as the intake reads it (its aliases), or by its own fields."""
    if not isinstance(item, dict):
        return False
    ticket = as_batch_reads(item, place) or ticket_from_mapping(item)[0]
    return customer.owns(ticket.model_dump(mode="json") if ticket is not None else item)


async def _begun(client: Client, events: list[HistoryEvent]) -> set[str]:
    """The ticket workflow ids a batch run has started: each child start it made, but for one
    the server refused (an ended run held the id) whose restart has not completed: the batch
    starts that ticket again, as ``submit`` would, with its restart activity (workflows/batch.py
    RESTARTS_AS_SUBMITTED), and taken as begun, it was started after the erasure had deleted
    the ended run, the agents ran and the answer went out."""
    begun: set[str] = set()
    refused: set[str] = set()
    restarting: dict[int, list[str]] = {}
    restarted: set[str] = set()
    for event in events:
        if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            begun.add(event.start_child_workflow_execution_initiated_event_attributes.workflow_id)
        elif event.HasField("start_child_workflow_execution_failed_event_attributes"):
            refused.add(event.start_child_workflow_execution_failed_event_attributes.workflow_id)
        elif event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name in (names.RESTART_TICKET, names.RESTART_TICKETS):
                restarting[event.event_id] = await _restarted_ids(client, scheduled.input.payloads)
        else:
            # A restart that ended any way (completed, failed, timed out, cancelled) will not
            # start the ticket later.
            for closed in CLOSED_ACTIVITY:
                if event.HasField(closed):
                    ended = getattr(event, closed).scheduled_event_id
                    restarted.update(restarting.get(ended, []))
                    break
    if not any(patch_id(event) == RESTARTS_AS_SUBMITTED for event in events):
        # A batch run without that patch starts no refused ticket again (it counts it known).
        return begun
    return begun - (refused - restarted)


CLOSED_ACTIVITY = (
    "activity_task_completed_event_attributes",
    "activity_task_failed_event_attributes",
    "activity_task_timed_out_event_attributes",
    "activity_task_canceled_event_attributes",
)


async def _restarted_ids(client: Client, payloads: Sequence[Payload]) -> list[str]:
    """The ticket workflow ids a restart activity's input names (TicketRestart: one ticket;
    TicketRestarts: a group)."""
    if not payloads:
        return []
    [raw] = await client.data_converter.decode(payloads[:1], [dict[str, Any]])
    tickets = [raw.get("ticket")] if "ticket" in raw else raw.get("tickets") or []
    return [
        names.ticket_workflow_id(str(t["ticket_id"]))
        for t in tickets
        if isinstance(t, dict) and t.get("ticket_id")
    ]
