"""``python -m starter erase (--customer-id X | --email ADDRESS) [--yes]``: erase one customer's
data on request. By e-mail address: the tickets whose customer e-mail is that address (in any
case), or whose customer id is (the e-mail route's customer id is the sender's address); a
data-subject request usually names an address, and a web form's tickets have no customer id.

What goes: every ticket workflow whose input names the customer (all its runs), its children
(``<ticket workflow id>/resolution`` and that plan's sub-tasks), their stored payloads, and the
customer's rows in the delivery ledger. Without ``--yes`` it only reports what would go.

Finding the tickets (reading each ticket workflow's input: the customer id is no search
attribute) is starter/erase_find.py's.

A batch workflow's input holds the tickets of many customers: it is reported, not deleted. A
running batch that has yet to start a ticket of the customer would start it after the erasure:
it is reported too, and the erasure fails until the batch is cancelled or has ended.
"""

import asyncio
from typing import Final

from pydantic import BaseModel, Field
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from shared.payload_gc import REPLAYER_NAMESPACE
from shared.stores.errors import store_failures
from shared.stores.factory import Stores
from starter.erase_batch_results import held_by_batch, referred_to, release_from_batch
from starter.erase_find import Customer, ErasedTicket, find_tickets
from starter.erase_pending import pending_in_batches
from starter.errors import CliError

__all__ = ["Customer", "ErasedTicket", "ErasureReport", "erase_customer", "find_tickets"]

# Deletion is asynchronous on the server; this long for every execution to be gone.
DELETION_TIMEOUT_SECONDS: Final = 60.0


class ErasureReport(BaseModel):
    customer_id: str | None
    email: str | None = None
    erased: bool  # False: a dry run, nothing was removed
    tickets_scanned: int
    unreadable: list[str] = Field(default_factory=list)  # workflow id: why
    tickets: list[ErasedTicket] = Field(default_factory=list)
    workflow_executions: int = 0
    ledger_rows: list[str] = Field(default_factory=list)
    stored_payloads: int = 0
    batches_kept: list[str] = Field(default_factory=list)
    # Running batches that have yet to start tickets of this customer (batch id -> ticket ids):
    # they would start them after the erasure (the agents run again, the answer is sent).
    batches_pending: dict[str, list[str]] = Field(default_factory=dict)
    # Tickets whose workflows could not all be deleted (workflow id: why): kept whole (their
    # payloads and ledger row too), for the next run to find.
    failed: list[str] = Field(default_factory=list)


async def _delete_execution(client: Client, workflow_id: str, run_id: str) -> int:
    """Delete one run from Temporal (a running one is terminated first by the server). Returns
    how many deletions were asked for (0: it was gone already)."""
    try:
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return 0
    return 1


async def _wait_gone(client: Client, workflow_id: str, run_id: str, timeout: float) -> None:
    """Until that run is gone (by its run id: another ticket may hold the id by now)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return
            raise
        if loop.time() >= deadline:
            raise CliError(f"{workflow_id} was asked to be deleted but is still there")
        await asyncio.sleep(0.2)


async def erase_customer(
    client: Client, stores: Stores, customer: Customer, *, really: bool
) -> ErasureReport:
    tickets, scanned, unreadable = await find_tickets(client, customer)
    pending = await pending_in_batches(client, customer, unreadable)
    customer_id = customer.customer_id
    report = ErasureReport(
        customer_id=customer_id,
        email=customer.email,
        erased=really,
        tickets_scanned=scanned,
        unreadable=sorted(unreadable),
        tickets=tickets,
        batches_kept=sorted({t.batch_id for t in tickets if t.batch_id} | set(pending)),
        batches_pending=pending,
    )
    if really:
        # What it holds of the customer is not erased: said, and the command fails, so an
        # erasure that a batch would undo never reads as done.
        report.failed += [
            f"batch {batch} has yet to start {len(ids)} of this customer's ticket(s) "
            f"({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}): it would run them after "
            "this erasure; cancel the batch (or wait for it to end) and run erase again"
            for batch, ids in sorted(pending.items())
        ]
    # Rows by customer as well as by the tickets found: a row outlives its ticket's workflow
    # (retention), and an e-mailed ticket's customer id is its sender's address.
    key, any_case = (customer_id, False) if customer_id is not None else (customer.email, True)
    assert key is not None
    if not really:
        owners = [wid for t in tickets for wid in (t.workflow_id, *t.children)]
        stored: set[str] = set()
        for wid in owners:
            stored |= await stores.payloads.payloads_of(wid)
        report.stored_payloads = len(stored)
        report.workflow_executions = sum(len(t.runs) + len(t.child_runs) for t in tickets)
        rows = {t.ticket_id: (await stores.ledger.get(t.ticket_id), t) for t in tickets}
        report.ledger_rows = sorted(
            {
                ticket_id
                for ticket_id, (row, t) in rows.items()
                if row is not None
                and (
                    row.chain in t.chains
                    or (row.chain is None and row.customer_id == t.customer_id)
                )
            }
            | set(await stores.ledger.customer_rows(key, any_case=any_case))
        )
        return report
    # What a batch's tickets refer to, read before they go: their results are the batch's. Not
    # those the batch's own histories refer to: they go with the batch (it would fail to replay).
    batches = {t.batch_id for t in tickets if t.batch_id}
    batch_holds = {b: await held_by_batch(client, b) for b in sorted(batches)}
    batch_results = {
        t.workflow_id: await referred_to(client, t.workflow_id, t.runs)
        for t in tickets
        if t.batch_id
    }
    # Before the workflows go: a delivery already under way as its workflow is deleted goes on,
    # and wrote its row (the answer, in plain text) after the rows below were deleted. Fenced,
    # the ledger records none for these tickets any more. Without the fence nothing is deleted.
    try:
        await stores.ledger.fence([chain for t in tickets for chain in t.chains])
    except store_failures() as err:
        report.failed.append(
            f"the delivery ledger did not answer ({err}): nothing was erased; run erase again "
            "once it does"
        )
        return report
    interrupted = False
    try:
        asked = await _delete_workflows(client, tickets, report)
    except _Interrupted as stop:  # Ctrl-C while the server deleted them
        asked, interrupted = stop.asked, True
    # After the workflows: no worker writes a delivery for them any more (fenced above; a
    # payload an activity under way stores as it ends is gc-payloads' once its workflow is
    # gone). Every
    # ticket whose deletion was asked goes now, also one the server had not finished deleting
    # or a Ctrl-C left waiting: the next run can no longer find it (its workflow is going), and
    # its row (the answer's text) and payloads stayed for good. A ticket whose deletion the
    # server refused keeps them: the next erase finds it whole.
    for ticket in asked:
        try:
            for namespace in (client.namespace, REPLAYER_NAMESPACE):
                # A replayer that stored payloads (one not set up to read only) left copies of
                # the ticket's under its own namespace: never read, the customer's text all the
                # same.
                report.stored_payloads += await stores.payloads.erase_owned_by(
                    ticket.workflow_id, namespace
                )
            holds = batch_holds.get(ticket.batch_id) if ticket.batch_id else None
            if ticket.batch_id and holds is None:
                # The batch's runs could not be listed: what it holds of this ticket (its answer,
                # as the batch's payload) is not known, so it is kept, and said.
                report.failed.append(
                    f"{ticket.workflow_id}: its batch {ticket.batch_id}'s runs could not be read: "
                    "the ticket's result the batch holds is kept; run erase again"
                )
            elif ticket.batch_id and holds is not None:
                report.stored_payloads += await release_from_batch(
                    stores.payloads,
                    ticket.batch_id,
                    batch_results.get(ticket.workflow_id, set()) - holds,
                )
        except store_failures() as err:
            # Its workflow is gone, so a later run finds it only by customer: the rows go below,
            # and its payloads wait for `gc-payloads` (their owner is gone). Said, not hidden.
            report.failed.append(
                f"{ticket.workflow_id}: deleted, but its stored payloads were not: {err}; "
                "`gc-payloads --yes` removes them (their workflow is gone)"
            )
    # By customer only once every ticket found went: a row of one still there (it may be
    # delivering) waits for the run that deletes its workflow.
    deleted: set[str] = set()
    try:
        if not report.failed:
            deleted |= set(await stores.ledger.delete(key, any_case=any_case))
        for ticket in asked:
            if await stores.ledger.delete_answer(
                ticket.ticket_id, ticket.chains, ticket.customer_id
            ):
                deleted.add(ticket.ticket_id)
    except store_failures() as err:
        report.failed.append(
            f"the delivery ledger did not answer ({err}): the rows of the tickets erased are "
            "kept; run erase again once it does (it finds them by customer)"
        )
    if deleted:
        try:
            await stores.ledger.clear_erased()
        except store_failures() as err:
            # The rows are gone; SQLite's write-ahead log may still hold their text.
            report.failed.append(
                f"the delivery ledger's write-ahead log still holds the rows erased ({err}): "
                "the next erase clears it, or the last worker to close the ledger"
            )
    report.ledger_rows = sorted(deleted)
    if interrupted:
        raise asyncio.CancelledError()
    return report


class _Interrupted(Exception):
    """The wait for the server's deletions was cancelled (Ctrl-C); ``asked``: the tickets whose
    deletion had been asked."""

    def __init__(self, asked: list["ErasedTicket"]) -> None:
        super().__init__("interrupted")
        self.asked = asked


async def _delete_workflows(
    client: Client, tickets: list[ErasedTicket], report: ErasureReport
) -> list[ErasedTicket]:
    """Delete every run of each ticket and wait until the server has; the tickets whose deletion
    was asked. One the server refused, or did not finish deleting, is in ``report.failed`` with
    why, and the others go on: an error used to end the command there, with no report, its
    payloads and rows left behind and the tickets already deleted no longer found by a second
    run. A cancelled wait raises ``_Interrupted`` with the tickets asked."""
    asked: list[ErasedTicket] = []
    for ticket in tickets:
        # Its children first: they are found through the ticket's own runs, so a ticket whose
        # runs went before a child's deletion failed could no longer be found, and the child
        # (the resolution's input holds the customer's text) stayed for good.
        own_sent = False
        try:
            if ticket.running:
                # Started since the listing, while they still run: deleted with the rest (a
                # run deleted while it runs goes at once; one its parent's deletion closed, in
                # tens of seconds, after its close is recorded).
                _take(ticket, await _descendants(client, ticket))
            runs = [*ticket.child_runs, *((ticket.workflow_id, r) for r in ticket.runs)]
            # Each run by its id: by the id alone the server deletes the latest run only, which
            # may be another ticket's, and an older one (with this ticket's text) survives.
            for workflow_id, run_id in runs:
                report.workflow_executions += await _delete_execution(client, workflow_id, run_id)
                own_sent = own_sent or workflow_id == ticket.workflow_id
        except RPCError as err:
            report.failed.append(
                f"{ticket.workflow_id}: not deleted: {err.message} (fenced already: it records "
                "no answer any more)"
            )
            continue
        except asyncio.CancelledError:
            # Ctrl-C while the deletions went out: the tickets asked so far (and this one, once
            # a run of its own went: it may no longer be found) lose their payloads and rows
            # now, as after a cut wait; before, they kept them where no later run finds them.
            raise _Interrupted([*asked, ticket] if own_sent else asked) from None
        asked.append(ticket)
    for ticket in asked:
        runs = [(ticket.workflow_id, r) for r in ticket.runs] + ticket.child_runs
        try:
            for workflow_id, run_id in runs:
                await _wait_gone(client, workflow_id, run_id, DELETION_TIMEOUT_SECONDS)
        except (RPCError, CliError) as err:
            said = err.message if isinstance(err, RPCError) else str(err)
            report.failed.append(
                f"{ticket.workflow_id}: deletion asked, not finished ({said}); its payloads and "
                "row are erased now"
            )
        except asyncio.CancelledError:
            raise _Interrupted(asked) from None
        try:
            if ticket.running:  # an ended ticket started nothing since it was listed
                report.workflow_executions += await _late_descendants_deleted(client, ticket)
        except (RPCError, CliError) as err:
            said = err.message if isinstance(err, RPCError) else str(err)
            report.failed.append(
                f"{ticket.workflow_id}: a run it started during the erasure was not deleted "
                f"({said}); run erase again"
            )
        except asyncio.CancelledError:
            raise _Interrupted(asked) from None
        if (newer := await _runs_left(client, ticket)) is not None:
            report.failed.append(newer)
    return asked


# How many times a ticket's descendants are listed again once its runs are deleted.
DESCENDANT_ROUNDS: Final = 3


async def _late_descendants_deleted(client: Client, ticket: ErasedTicket) -> int:
    """Delete what the ticket's runs started after they were listed (its orchestrator run, a
    sub-task), found by their root run; how many deletions that asked. Listed from the
    histories while the ticket ran, a child started between the listing and the deletion was
    terminated by its parent's deletion instead of deleted, its input holding the customer's
    text, and no later erase found it (its parent gone). Once the ticket's runs are deleted
    they start nothing more; a child's record reaches visibility a moment after its start, so
    the listing is read again until it holds nothing new."""
    asked = 0
    for _ in range(DESCENDANT_ROUNDS):
        found = await _descendants(client, ticket)
        if not found:
            break
        _take(ticket, found)
        for workflow_id, run_id in found:
            asked += await _delete_execution(client, workflow_id, run_id)
        for workflow_id, run_id in found:
            await _wait_gone(client, workflow_id, run_id, DELETION_TIMEOUT_SECONDS)
    return asked


async def _descendants(client: Client, ticket: ErasedTicket) -> list[tuple[str, str]]:
    """The runs visibility lists under the ticket's runs as their root that it has not listed:
    exactly this ticket's (by run id, not another ticket's under the same id)."""
    runs = ", ".join(f"'{run_id}'" for run_id in ticket.runs)
    known = set(ticket.child_runs)
    return [
        (e.id, e.run_id)
        async for e in client.list_workflows(f"RootRunId IN ({runs})")
        if e.id != ticket.workflow_id and (e.id, e.run_id) not in known
    ]


def _take(ticket: ErasedTicket, runs: list[tuple[str, str]]) -> None:
    ticket.child_runs += runs
    ticket.children = list(dict.fromkeys([*ticket.children, *(wid for wid, _ in runs)]))


async def _runs_left(client: Client, ticket: ErasedTicket) -> str | None:
    """Why the ticket is not all gone when a run of its id that this erasure did not find is
    listed (started meanwhile: a redrive, a resubmission through the API): it has the
    customer's text and no fence, and the next erase finds it."""
    query = f"WorkflowId = '{ticket.workflow_id}'"
    try:
        left = [e.run_id async for e in client.list_workflows(query) if e.run_id not in ticket.runs]
    except RPCError as err:
        return f"{ticket.workflow_id}: could not check for runs started meanwhile ({err.message})"
    if not left:
        return None
    return (
        f"{ticket.workflow_id}: {len(left)} run(s) of it started during the erasure (a redrive, "
        "a resubmission); run erase again to erase them"
    )
