"""Finding one customer's tickets for ``erase``: the customer id is customer data, so it is not a
search attribute (search attributes are stored and indexed in plain text). This reads the input of
every ticket workflow visibility lists, decrypting it with the key ring, and compares: one small
history read per ticket (16 at a time); docs/privacy.md says why this beat a keyed-hash search
attribute. A ticket whose input cannot be read (a key missing from the ring) is reported, so a
search that could not be complete never looks complete. Each ticket found comes with its runs,
their chains (fenced in the ledger before the erasure deletes) and every child run they started.
"""

import asyncio
from typing import Any, Final

from pydantic import BaseModel, Field
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import WorkflowExecutionStartedEventAttributes
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from shared import names

READ_CONCURRENCY: Final = 16


class Customer(BaseModel):
    """Whose data goes: a customer id (compared stripped, as given) or an e-mail address
    (compared without regard to case, against the ticket's e-mail and its customer id)."""

    customer_id: str | None = None
    email: str | None = None

    def named(self) -> str:
        return f"customer {self.customer_id}" if self.customer_id else f"address {self.email}"

    def owns(self, ticket: dict[str, Any]) -> bool:
        customer_id = str(ticket.get("customer_id") or "").strip()
        if self.customer_id is not None:
            return customer_id == self.customer_id
        address = str(ticket.get("customer_email") or "").strip().casefold()
        return self.email is not None and self.email in (address, customer_id.casefold())


class ErasedTicket(BaseModel):
    ticket_id: str
    workflow_id: str
    runs: list[str]
    children: list[str] = Field(default_factory=list)
    batch_id: str | None = None
    # (workflow id, run id) of every child run this customer's ticket runs started: only those
    # are deleted (another ticket may have taken the id since and started its own).
    child_runs: list[tuple[str, str]] = Field(default_factory=list, exclude=True)
    # The ticket's customer id as its input holds it (None for none): a ledger row from before
    # chains were kept is this ticket's only when it holds the same.
    customer_id: str | None = Field(default=None, exclude=True)
    # A run of it was running when found: the server terminates it as it deletes it, but an
    # agent call or a delivery already running goes on until its heartbeat or timeout finds the
    # run gone, and what it then writes (a stored payload, a ledger row) outlives the erasure.
    running: bool = False
    # Its runs' chains (their first run ids, as a delivery names its ticket's): fenced in the
    # ledger before the deletion, so a delivery under way records no row after it.
    chains: list[str] = Field(default_factory=list, exclude=True)
    # Every run of its id the listing saw, another customer's too (a keyed id reused, an input
    # that could not be read): a run of it not among them started during the erasure.
    listed_runs: list[str] = Field(default_factory=list, exclude=True)


async def started_event(
    client: Client, workflow_id: str, run_id: str
) -> WorkflowExecutionStartedEventAttributes:
    """A run's start event (its input): the first page of one event of its history."""
    response = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            maximum_page_size=1,
        )
    )
    return response.history.events[0].workflow_execution_started_event_attributes


async def _ticket_input(
    client: Client, workflow_id: str, run_id: str
) -> tuple[dict[str, Any], str]:
    """The run's input, and its chain: the first run id its start event names, which is what
    its deliveries name (a reset run's is the original run's; a listing leaves it empty)."""
    started = await started_event(client, workflow_id, run_id)
    chain = started.first_execution_run_id or run_id
    if not started.input.payloads:
        return {}, chain
    [raw] = await client.data_converter.decode(started.input.payloads, [dict[str, Any]])
    return (raw if isinstance(raw, dict) else {}), chain


async def child_runs_of(
    client: Client, workflow_id: str, run_ids: list[str]
) -> list[tuple[str, str]]:
    """Every child (and grandchild) run these runs of a ticket started, as (workflow id, run
    id), from their histories: exactly this ticket's, not the runs another ticket started under
    the same ids after this one failed. A child the namespace's retention already removed (its
    ticket waited longer for review than retention keeps a closed child) has nothing left."""
    found: list[tuple[str, str]] = []
    todo = [(workflow_id, run_id) for run_id in run_ids]
    while todo:
        current, run_id = todo.pop()
        handle = client.get_workflow_handle(current, run_id=run_id)
        try:
            async for event in handle.fetch_history_events():
                if event.HasField("child_workflow_execution_started_event_attributes"):
                    started = event.child_workflow_execution_started_event_attributes
                    child = (
                        started.workflow_execution.workflow_id,
                        started.workflow_execution.run_id,
                    )
                    if child not in found:
                        found.append(child)
                        todo.append(child)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    return found


async def find_tickets(
    client: Client, customer: Customer
) -> tuple[list[ErasedTicket], int, list[str]]:
    """The customer's tickets (each with all its runs), how many were scanned, and the ones
    that could not be read."""
    executions = [
        e async for e in client.list_workflows(f"WorkflowType = '{names.TICKET_WORKFLOW}'")
    ]
    gate = asyncio.Semaphore(READ_CONCURRENCY)
    unreadable: list[str] = []

    async def read(workflow_id: str, run_id: str) -> tuple[dict[str, Any], str] | None:
        async with gate:
            try:
                return await _ticket_input(client, workflow_id, run_id)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:  # deleted meanwhile
                    return None
                unreadable.append(f"{workflow_id}: {err.message}")
            except Exception as err:  # an unknown key, a payload the store lost
                unreadable.append(f"{workflow_id}: {err}")
            return None

    inputs = await asyncio.gather(*(read(e.id, e.run_id) for e in executions))
    tickets: dict[str, ErasedTicket] = {}
    for execution, read_in in zip(executions, inputs, strict=True):
        raw, chain = read_in if read_in is not None else (None, execution.run_id)
        ticket = (raw or {}).get("ticket") or {}
        # Compared stripped: `erase` strips what it is given, a ticket keeps its id as sent.
        if not isinstance(ticket, dict) or not customer.owns(ticket):
            continue
        entry = tickets.setdefault(
            execution.id,
            ErasedTicket(
                ticket_id=names.ticket_id_from_workflow_id(execution.id),
                workflow_id=execution.id,
                runs=[],
                batch_id=(raw or {}).get("batch_id"),
                customer_id=ticket.get("customer_id") or None,
            ),
        )
        entry.runs.append(execution.run_id)
        entry.running = entry.running or execution.status == WorkflowExecutionStatus.RUNNING
        for fenced in (execution.run_id, chain):
            if fenced not in entry.chains:
                entry.chains.append(fenced)
        # Any run's batch: a FAILED batch ticket that `redrive` started again has none, and is
        # listed first (newest first), so the batch holding the customer's ticket went unsaid.
        entry.batch_id = entry.batch_id or (raw or {}).get("batch_id")
    for execution in executions:
        if (listed := tickets.get(execution.id)) is not None:
            listed.listed_runs.append(execution.run_id)
    for entry in tickets.values():
        entry.child_runs = await child_runs_of(client, entry.workflow_id, entry.runs)
        entry.children = list(dict.fromkeys(child for child, _ in entry.child_runs))
    return list(tickets.values()), len(executions), sorted(unreadable)
