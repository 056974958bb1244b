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
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Final

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from shared import names
from shared.payload_gc import REPLAYER_NAMESPACE
from shared.stores.config import StoreConfig
from shared.stores.errors import store_failures
from shared.stores.factory import Stores, payload_drivers
from shared.stores.sqlite_ledger import SqliteLedger, customer_rows_read_only
from starter.erase_batch_results import held_by_batch, referred_to, release_from_batch
from starter.erase_find import Customer, ErasedTicket, find_tickets
from starter.erase_pending import batches_holding, pending_in_batches
from starter.erase_workflows import DeletionInterrupted, delete_workflows

__all__ = ["Customer", "ErasedTicket", "ErasureReport", "erase_customer", "find_tickets"]


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
    # Workflow ids another run shares (another customer's ticket under a reused id, or a run
    # whose input could not be read): their stored payloads are owned by the id, not the run,
    # so they are left to `gc-payloads`, which deletes what no retained history refers to.
    payloads_shared: list[str] = Field(default_factory=list)


async def erase_customer(
    client: Client, stores: Stores, customer: Customer, *, really: bool
) -> ErasureReport:
    listed_at = datetime.now(UTC)
    tickets, scanned, unreadable = await find_tickets(client, customer)
    started: dict[str, list[str]] = {}
    pending = await pending_in_batches(client, customer, unreadable, started)
    holding = await batches_holding(client, customer, unreadable)
    drivers = payload_drivers(stores)
    customer_id = customer.customer_id
    report = ErasureReport(
        customer_id=customer_id,
        email=customer.email,
        erased=really,
        tickets_scanned=scanned,
        unreadable=sorted(unreadable),
        tickets=tickets,
        batches_kept=sorted({t.batch_id for t in tickets if t.batch_id} | set(pending) | holding),
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
        report.failed += await _started_meanwhile(client, tickets, started, listed_at)
    # Rows by customer as well as by the tickets found: a row outlives its ticket's workflow
    # (retention), and an e-mailed ticket's customer id is its sender's address.
    key, any_case = (customer_id, False) if customer_id is not None else (customer.email, True)
    assert key is not None
    if not really:
        shared = [t for t in tickets if set(t.listed_runs) - set(t.runs)]
        report.payloads_shared = [t.workflow_id for t in shared]
        owners = [wid for t in tickets if t not in shared for wid in (t.workflow_id, *t.children)]
        stored: set[str] = set()
        for driver in drivers:
            for wid in owners:
                stored |= await driver.payloads_of(wid)
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
        try:
            earlier, _ = await _earlier_ledger_rows(stores, key, any_case, really=False)
        except (*store_failures(), sqlite3.Error) as err:
            report.unreadable.append(f"{EARLIER_LEDGER}: {err}")
        else:
            report.ledger_rows = sorted({*report.ledger_rows, *earlier})
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
        asked = await delete_workflows(client, tickets, report)
    except DeletionInterrupted as stop:  # Ctrl-C while the server deleted them
        asked, interrupted = stop.asked, True
    # After the workflows: no worker writes a delivery for them any more (fenced above; a
    # payload an activity under way stores as it ends is gc-payloads' once its workflow is
    # gone). Every
    # ticket whose deletion was asked goes now, also one the server had not finished deleting
    # or a Ctrl-C left waiting: the next run can no longer find it (its workflow is going), and
    # its row (the answer's text) and payloads stayed for good. A ticket whose deletion the
    # server refused keeps them: the next erase finds it whole.
    for ticket in asked:
        # Another run under this id that is not this customer's: the store owns payloads by
        # workflow id, so erasing the id's erased theirs too (their ticket then failed on
        # PayloadMissing). This customer's go with `gc-payloads` once no retained history
        # refers to them (the runs that did are deleted now).
        shared = bool(set(ticket.listed_runs) - set(ticket.runs))
        if shared:
            report.payloads_shared.append(ticket.workflow_id)
        try:
            for driver in drivers if not shared else ():
                for namespace in (client.namespace, REPLAYER_NAMESPACE):
                    # A replayer that stored payloads (one not set up to read only) left copies
                    # of the ticket's under its own namespace: never read, the customer's text
                    # all the same.
                    report.stored_payloads += await driver.erase_owned_by(
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
                    client.namespace,
                )
        except store_failures() as err:
            # Its workflow is gone, so a later run finds it only by customer: the rows go below,
            # and its payloads wait for `gc-payloads` (their owner is gone). Said, not hidden.
            report.failed.append(
                f"{ticket.workflow_id}: deleted, but its stored payloads were not: {err}; "
                "`gc-payloads --yes` removes them (their workflow is gone; on a database, add "
                "--data-directory for the data directory's files)"
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
    if not report.failed:
        try:
            gone, uncleared = await _earlier_ledger_rows(stores, key, any_case, really=True)
        except (*store_failures(), sqlite3.Error) as err:
            report.failed.append(
                f"{EARLIER_LEDGER} did not answer ({err}): the customer's rows in it are kept; "
                "run erase again once it does"
            )
        else:
            deleted |= set(gone)
            if uncleared:
                report.failed.append(f"{EARLIER_LEDGER}: {uncleared}")
    # Whether or not this run deleted a row: an earlier run's may still be in the log, which
    # that run could not clear (it said so and told you to run erase again; the rerun, with
    # nothing left to delete, cleared nothing and said all was done: a review, 2026-12-07).
    try:
        await stores.ledger.clear_erased()
    except store_failures() as err:
        # The rows are gone; SQLite's write-ahead log may still hold their text.
        report.failed.append(f"the delivery ledger's write-ahead log: {_uncleared(err)}")
    report.ledger_rows = sorted(deleted)
    if interrupted:
        raise ErasureInterrupted(report)
    return report


class ErasureInterrupted(asyncio.CancelledError):
    """Ctrl-C while the server deleted the tickets: what was asked was still erased, and the
    report says so (the command printed nothing and exited 130, a review found)."""

    def __init__(self, report: ErasureReport) -> None:
        super().__init__()
        self.report = report


async def _started_meanwhile(
    client: Client,
    tickets: list[ErasedTicket],
    started: dict[str, list[str]],
    listed_at: datetime,
) -> list[str]:
    """Tickets of the customer a running batch has started that the listing did not find and
    that started as it listed them or later: between the listing and the batches' read (a
    review reproduced one going on to send its answer). Not erased by this run: said, so the
    command fails and the next run finds them. (A run under the id that started before is not
    this customer's: the batch found its id held.)"""
    found = {t.workflow_id for t in tickets}
    said = []
    for batch, ids in sorted(started.items()):
        meanwhile = []
        for ticket_id in ids:
            workflow_id = names.ticket_workflow_id(ticket_id)
            if workflow_id in found:
                continue
            try:
                described = await client.get_workflow_handle(workflow_id).describe()
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    continue  # erased before, or gone with its retention
                raise
            if described.start_time >= listed_at - CLOCKS_APART:
                meanwhile.append(ticket_id)
        if meanwhile:
            said.append(
                f"batch {batch} started {len(meanwhile)} of this customer's ticket(s) "
                f"({', '.join(meanwhile[:5])}{', ...' if len(meanwhile) > 5 else ''}) as they "
                "were listed: not erased by this run; run erase again"
            )
    return said


# How far the server's clock (a run's start) and this process's (the listing's) may be apart.
CLOCKS_APART: Final = timedelta(minutes=1)


# How the report names the SQLite ledger a stack kept before its database.
EARLIER_LEDGER: Final = "the data directory's ledger from before the database (outbox.sqlite3)"


async def _earlier_ledger_rows(
    stores: Stores, key: str, any_case: bool, *, really: bool
) -> tuple[list[str], str | None]:
    """The customer's rows in the data directory's SQLite ledger when the stack now keeps its
    ledger in a database: the answers (in plain text) of the tickets answered before the move
    stayed there. No worker writes it any more, so nothing needs fencing."""
    config: StoreConfig | None = getattr(stores, "config", None)
    if config is None or config.database_url is None or not config.ledger_path.is_file():
        return [], None
    if not really:
        return await customer_rows_read_only(config.ledger_path, key, any_case=any_case), None
    earlier = SqliteLedger(config.ledger_path)
    try:
        gone = await earlier.delete(key, any_case=any_case)
        try:
            await earlier.clear_erased()
        except store_failures() as err:
            return gone, _uncleared(err)
        return gone, None
    finally:
        await earlier.close()


def _uncleared(err: BaseException) -> str:
    return (
        f"the rows erased may still be in it ({err}): run erase again once no other process "
        "keeps reading the file (or stop the workers: the last to close it clears it)"
    )
