"""What ``redrive`` plans for one ticket (starter/redrive.py lists them, applies the plan and
prints it): a FAILED ticket starts again from its input unless the ledger holds an answer for
it; a DELIVERY_FAILED one is reset to its delivery (``redeliver``), has its row recorded sent
first (``record-sent``: its answer went out unrecorded, or a person found it arrived) or sent
again under its key (``resend``: a person found it did not), or is left alone, saying why. The
row it acts on is the ticket's own, or the answer of a run it replaced that the ledger kept for
it (docs/delivery.md)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field
from temporalio.client import Client

from policy.text_budget import usd_text
from shared.stores.ledger import (
    DeliveryLedger,
    LedgerEntry,
    another_tickets,
    answered_by_the_run_replaced,
    refused_every_time,
    uncertain,
)
from shared.view import TicketRequest
from starter.delivery_history import read_delivery
from workflows.ticket_request import parse_lenient

Action = Literal["restart", "redeliver", "record-sent", "resend", "skip"]


class RedriveItem(BaseModel):
    ticket_id: str
    workflow_id: str
    run_id: str
    action: Action
    why: str
    # Filled by a real run: the new run's id, or what went wrong.
    new_run_id: str | None = None
    error: str | None = None
    # Not planned: the ticket could not be read (the server in trouble, a key not in this ring).
    unreadable: bool = False
    # Internal: how to act (not printed).
    task_queue: str | None = Field(default=None, exclude=True)
    # The ticket's workflow chain (its first run id): a ledger row of another chain is another
    # ticket's with the same id, not this one's answer.
    chain: str | None = Field(default=None, exclude=True)
    # The chains of the runs this one was started to replace (its memo): their answer's row is
    # this ticket's too (the ledger keeps it when it went out or may have: docs/delivery.md).
    replaces: list[str] = Field(default_factory=list, exclude=True)
    reset_event_id: int | None = Field(default=None, exclude=True)
    # A plan the --arrived or --not-arrived given for it decided, though not a record-sent or
    # resend (a row another ticket of the id took over): the flag was used.
    flag_used: bool = Field(default=False, exclude=True)
    # record-sent: the ledger row's key, marked sent before the reset.
    idempotency_key: str | None = Field(default=None, exclude=True)
    request: TicketRequest | None = Field(default=None, exclude=True)
    # restart: what the failed run (and the runs before it) spent, for the plan to say; the
    # restart's start carries it into the new run's memo (shared/operations.py start_ticket).
    earlier_usage: dict[str, Any] | None = Field(default=None, exclude=True)
    # restart: the ticket closed UNANSWERED (nobody reviewed it), not FAILED.
    unanswered: bool = Field(default=False, exclude=True)


# Runs listed at most by one redrive, the runs of tickets redriven before included (each costs
# a describe): past it, a window is too full of them for one command to reach what is older.
MAX_SCANNED_RUNS: Final = 100_000
# How a skip of a ticket redriven before starts its reason (a newer run of it exists).
REDRIVEN_BEFORE: Final = "redriven before"


class RedriveReport(BaseModel):
    state: str
    since: datetime
    applied: bool  # False: a dry run, nothing was changed
    tickets: list[RedriveItem] = Field(default_factory=list)
    # The listing stopped at --limit tickets (the closed runs of tickets redriven before not
    # counted) or at MAX_SCANNED_RUNS runs: older runs of the window were not looked at.
    more_past_limit: bool = False
    # ... and it stopped at redrive.MAX_SCANNED_RUNS runs listed, not at --limit tickets.
    past_scan_ceiling: bool = False

    def of(self, action: Action) -> list[RedriveItem]:
        return [t for t in self.tickets if t.action == action]


async def first_input(client: Client, workflow_id: str, run_id: str) -> Any:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events():
        started = event.workflow_execution_started_event_attributes
        if not started.input.payloads:
            return None
        [raw] = await client.data_converter.decode(started.input.payloads, [dict[str, Any]])
        return raw
    return None


def this_tickets(entry: LedgerEntry | None, item: RedriveItem) -> LedgerEntry | None:
    """The ledger's row if it is this ticket's answer (rows from before chains were kept belong
    to every ticket of their id); None when there is none, or it is another ticket's."""
    return None if entry is None or another_tickets(item.chain, entry) else entry


def delivered_for(
    entry: LedgerEntry | None, item: RedriveItem, doubted_key: str | None
) -> LedgerEntry | None:
    """The row a failed delivery of this ticket was about: its own, or the answer of a run it
    replaced that the ledger kept for it (``answered_by_the_run_replaced``, from the memo; or
    the row whose key the delivery's own doubt named, ``doubted_key``, when this key ring cannot
    read the memo). Read as another ticket's, a replaced run's answer that may have arrived
    could be settled by nothing: --arrived and --not-arrived were refused for it, and the
    ticket stayed DELIVERY_FAILED."""
    if entry is not None and (
        answered_by_the_run_replaced(item.replaces, entry)
        or (doubted_key is not None and entry.idempotency_key == doubted_key)
    ):
        return entry
    return this_tickets(entry, item)


async def plan_failed(client: Client, ledger: DeliveryLedger, item: RedriveItem) -> RedriveItem:
    # Its own answer, or one a run it replaced sent: the ticket was answered. (One that run
    # only began to send, or may have sent, is its restart's delivery to settle: resent under
    # its key, or stopped for a person, as answered_by_the_run_replaced rules.)
    found = await ledger.get(item.ticket_id)
    entry = this_tickets(found, item)
    if entry is None and found is not None and found.sent_at is not None:
        entry = found if answered_by_the_run_replaced(item.replaces, found) else None
    if entry is not None:
        item.action, item.why = (
            "skip",
            (
                f"the ledger holds an answer for it (revision {entry.revision}, recorded "
                f"{entry.recorded_at:%Y-%m-%d %H:%M} UTC): not restarting"
            ),
        )
        return item
    raw = await first_input(client, item.workflow_id, item.run_id)
    # Read as the worker reads it (patch ignore-unknown-input-fields): a field of a newer
    # version (after a rollback) is left out and named, not a reason to skip the ticket.
    parsed = parse_lenient(TicketRequest, raw)
    if parsed.request is None:
        item.action, item.why = "skip", "its input is not a valid ticket: it would fail again"
        return item
    original = parsed.request
    assert isinstance(original, TicketRequest)
    # Without the batch: the batch that started it has counted it as settled already.
    item.request = TicketRequest(ticket=original.ticket)
    item.action, item.why = "restart", "nothing was delivered; starts again from its input"
    if parsed.unknown_fields:
        item.why += (
            f" (fields this version does not know left out: {', '.join(parsed.unknown_fields)})"
        )
    if item.unanswered:
        item.why += " (a new draft, to be reviewed again)"
    if item.earlier_usage:
        item.why += (
            f" (the {item.earlier_usage['calls']} agent call(s), "
            f"${usd_text(item.earlier_usage['cost_usd'])}, it made so far stay in its totals)"
        )
    return item


async def plan_delivery_failed(
    client: Client,
    ledger: DeliveryLedger,
    item: RedriveItem,
    checked: Mapping[str, bool] | None = None,
) -> RedriveItem:
    """``checked``: tickets whose answer may have been delivered that a person looked for at
    the destination (True: it arrived)."""
    found = await ledger.get(item.ticket_id)
    if found is None:
        item.action, item.why = (
            "skip",
            ("the ledger holds no answer for it: redelivering would need a new draft"),
        )
        return item
    # Read only for a row to act on (its history: a request per page).
    delivery = await read_delivery(client, item.workflow_id, item.run_id)
    entry = delivered_for(found, item, delivery.doubted_key)
    arrived = (checked or {}).get(item.ticket_id)
    if uncertain(found) and entry is not None and arrived is None:
        # Sending it again could answer the customer twice: a person checks the destination.
        item.action, item.why = (
            "skip",
            "its answer may have been delivered: check the destination, then run again with "
            f"--arrived {item.ticket_id} (recorded sent) or --not-arrived {item.ticket_id} "
            "(sent again, same key)",
        )
        return item
    if delivery.reset_event_id is None:
        item.action, item.why = "skip", "its history schedules no delivery to go back to"
        return item
    item.reset_event_id = delivery.reset_event_id
    if entry is None and delivery.sent_key is not None:
        # Its answer went out unrecorded, and another ticket with this id took the row over
        # since: run again, delivery would record this ticket's decision anew and send the
        # customer a second copy.
        item.action, item.why = (
            "skip",
            "its answer went out (its delivery said so) but was never recorded, and the "
            "ledger's row for this id is another ticket's now: sending it again would give the "
            "customer a second copy; nothing to redrive",
        )
        return item
    if entry is None and (uncertain(found) or delivery.doubted_key is not None):
        # An answer for this id may have been delivered: the one in the ledger's row (another
        # run's under this id: an earlier ticket, or a run of this one its memo does not name,
        # which redrive never plans, not being the newest) or this ticket's own (its delivery
        # said so). One question for both: did an answer for this id reach the customer? Run
        # again unasked, delivery would record this ticket's decision anew and send it, a
        # second copy if one had arrived; the advice before named flags that were refused.
        if arrived is None:
            why = (
                "an answer for this id may have been delivered (the ledger's row is another "
                "run's now, and it, or this ticket's own last delivery, could not tell): check "
                f"the destination; then run again with --not-arrived {item.ticket_id} (this "
                f"ticket's answer goes out, its delivery taking the row over) or --arrived "
                f"{item.ticket_id} (nothing is sent; the ticket stays DELIVERY_FAILED, as the "
                "ledger's row is not its own)"
            )
            item.action, item.why = "skip", why
        elif arrived:
            item.action, item.why = (
                "skip",
                "you found an answer for this id at its destination: nothing is sent (the "
                "ticket stays DELIVERY_FAILED: the ledger's row is another run's)",
            )
        else:
            item.action, item.why = (
                "redeliver",
                "you found no answer for this id at its destination: delivery runs again and "
                "records this ticket's answer",
            )
        item.flag_used = arrived is not None
        return item
    if entry is None:
        # Another ticket with this id took the row over since: delivery, run again, records
        # this ticket's decision anew (the ledger's takeover rule) and sends it.
        item.action, item.why = (
            "redeliver",
            "the ledger's row for this id is another ticket's now: delivery runs again and "
            "records this ticket's answer",
        )
        return item
    if not uncertain(found) and delivery.doubted_key == entry.idempotency_key and arrived is None:
        # The delivery could not tell whether it arrived, and the ledger could not record
        # that (its database down at that moment): the history says so.
        item.action, item.why = (
            "skip",
            "its answer may have been delivered (its delivery said so; the ledger could not "
            "record it): check the destination, then run again with "
            f"--arrived {item.ticket_id} (recorded sent) or --not-arrived {item.ticket_id} "
            "(sent again, same key)",
        )
        return item
    if uncertain(found) or delivery.doubted_key == entry.idempotency_key:
        # A person looked for it at the destination (``checked``).
        item.idempotency_key = entry.idempotency_key
        if arrived:
            item.action, item.why = (
                "record-sent",
                f"you found revision {entry.revision} at its destination: recording it sent, "
                "not sending it again",
            )
        else:
            item.action, item.why = (
                "resend",
                f"you found revision {entry.revision} did not arrive: it goes out again via "
                f"{entry.sent_via} (idempotency key {entry.idempotency_key})",
            )
        return item
    if entry.sent_at is not None:
        # Its answer went out (a record-sent whose reset failed, or a send marked after the
        # attempt's own time ran out): reset, and the delivery finds it sent, sends nothing
        # and completes the ticket. Left alone, it stayed DELIVERY_FAILED for good.
        item.action, item.why = (
            "redeliver",
            (
                f"the ledger marks its answer sent at {entry.sent_at:%Y-%m-%d %H:%M} UTC: the "
                "delivery, run again, finds it sent and completes the ticket (nothing is sent)"
            ),
        )
        return item
    if delivery.sent_key == entry.idempotency_key:
        # Sending it again would give the customer a second copy: the row is marked sent
        # first, so the delivery, run again, finds it sent and the ticket completes.
        item.idempotency_key = entry.idempotency_key
        item.action, item.why = (
            "record-sent",
            (
                f"revision {entry.revision} recorded {entry.recorded_at:%Y-%m-%d %H:%M} UTC went "
                "out (its delivery said so) but the ledger never recorded it: recording it "
                "sent, not sending it again"
            ),
        )
        return item
    last = f"; last error: {entry.last_error}" if entry.last_error else ""
    via = f"via {entry.sent_via}"
    if refused_every_time(entry):
        # Every attempt refused for good: the delivery moves it to the channel the workers
        # route its ticket's channel to now (docs/delivery.md), which this process cannot see.
        via = f"via {entry.sent_via} (or the channel the workers route its ticket to now)"
    item.action, item.why = (
        "redeliver",
        (
            f"revision {entry.revision} recorded {entry.recorded_at:%Y-%m-%d %H:%M} UTC goes out "
            f"again {via} (idempotency key {entry.idempotency_key}){last}"
        ),
    )
    return item
