"""The delivery ledger: per ticket, the one answer decided for it and whether it went out.

The row is written before anything is sent (the decision: which answer), then one attempt
claims it for a while, the channel sends it, and the row is marked sent. The ticket id is the
primary key, so a retried, replayed or reset delivery finds the decision already made and sends
the same recorded text again, never another.
"""

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Final

# The characters Python's str.strip() removes, which is how `erase` trims the customer id it is
# given and a ticket's: both ledgers trim a row's customer id by this same set, so an id sent
# with a no-break space at its end ("ACME-1\u00a0", as spreadsheet exports write it) is found
# by `erase --customer-id ACME-1` in the ledger as in the workflows. (Every such character is
# below U+3001: tests/unit/test_ledger_customer_trim.py checks the whole of Unicode.)
STRIPPED: Final = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())


@dataclass(frozen=True)
class NewDelivery:
    ticket_id: str
    channel: str  # the ticket's channel (email, chat, ...)
    customer_id: str | None
    revision: int
    body: str
    text_sha256: str
    idempotency_key: str
    sent_via: str  # ledger, webhook or email
    chain: str | None = None  # the ticket workflow's first run id (DeliveryRequest.chain)
    # The chains of the runs this ticket's run was started to replace (DeliveryRequest.replaces).
    replaces: tuple[str, ...] = ()
    # The address the answer is for (the ticket's customer_email): what `erase --email` finds
    # the row by once the ticket's workflow is gone (retention), for a web form's ticket, which
    # has no customer id. Not sent anywhere from here.
    customer_email: str | None = None

    def address(self) -> str | None:
        """The address the answer is for, as the ledger keeps it (``as_address``)."""
        return as_address(self.customer_email) if self.customer_email else None

    def decision(self) -> tuple[object, ...]:
        """The row's decision columns, in the order both ledgers write them: channel,
        customer_id, revision, body, text_sha256, idempotency_key, sent_via."""
        return (
            self.channel,
            self.customer_id,
            self.revision,
            self.body,
            self.text_sha256,
            self.idempotency_key,
            self.sent_via,
        )


@dataclass(frozen=True)
class LedgerEntry:
    ticket_id: str
    channel: str
    customer_id: str | None
    revision: int
    body: str
    text_sha256: str
    idempotency_key: str
    sent_via: str
    recorded_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str | None
    chain: str | None = None
    # Sends of this decision begun (claims taken) and refused for good by their channel; rows
    # of ledgers before these were counted hold 0 (or 1 and 1: see sqlite_schema.py).
    sends: int = 0
    refusals: int = 0
    # The address the answer is for, as recorded with it (``as_address``; None on rows from
    # before schema 6 and for tickets without one): a run started to replace this row's run
    # sends (or names) this row's answer to this address, not to its own request's.
    customer_email: str | None = None


# How the reason of a refusal for good starts on the row (``note_failure``): the destination
# refused this answer, so nothing went out through that channel, and the row may take another.
REFUSED_PREFIX = "refused for good: "
# How the reason starts when an attempt cannot tell whether the destination took the answer (the
# connection broke after the message was handed over): not sent again, and not a refusal.
UNCERTAIN_PREFIX = "may have been delivered: "


def as_address(email: str) -> str:
    """An e-mail address as the ledger keeps and compares it: trimmed and casefolded, so a
    request naming it in any case (non-ASCII letters included) finds it."""
    return email.strip().casefold()


def noted_reason(error: str) -> str:
    """A failure's reason as a ledger keeps it: without NUL bytes, which PostgreSQL's text
    refuses (a receiver's UTF-16 refusal body failed every note, and the refusal never counted)
    and both backends keep alike."""
    return error.replace("\x00", "")


def another_tickets(chain: str | None, existing: LedgerEntry) -> bool:
    """Whether ``existing`` belongs to another ticket of the same id than the ticket of
    ``chain`` (both chains known and different): ``record`` may replace it, unless its claim
    holds or it is ``answered_by_the_run_replaced``; ``redrive`` does not take it for that
    ticket's answer."""
    return bool(chain) and bool(existing.chain) and chain != existing.chain


def may_have_gone_out(entry: LedgerEntry) -> bool:
    """Whether the row's answer went out or may have: sent, or an attempt could not tell
    whether the destination took it (``UNCERTAIN_PREFIX``). Neither is sent again."""
    return entry.sent_at is not None or uncertain(entry)


def refused_every_time(entry: LedgerEntry) -> bool:
    """Whether every send of this unsent decision was refused for good (at least one): nothing
    went out, so it may go by another channel. Not after a failure for now (a timeout, a 5xx:
    the answer may have arrived), nor after a send that never reported (its worker died)."""
    return (
        entry.sent_at is None
        and 1 <= entry.refusals == entry.sends == entry.attempts
        and (entry.last_error or "").startswith(REFUSED_PREFIX)
    )


def uncertain(entry: LedgerEntry) -> bool:
    """An attempt handed the answer over and could not tell whether the destination took it."""
    return entry.sent_at is None and (entry.last_error or "").startswith(UNCERTAIN_PREFIX)


def send_begun(entry: LedgerEntry) -> bool:
    """Whether a send of this unsent decision began that its channel did not refuse for good
    (a timeout, a 5xx, a worker that died while sending): it may have arrived, and the next
    send of it goes under the same idempotency key, as an attempt's retry does. Counted by the
    claims taken (``sends``) or, on rows from before those were counted (0 and 0), by the
    failures noted (``attempts``: each follows a claim) that were not refusals."""
    return (
        entry.sent_at is None
        and not uncertain(entry)
        and (entry.sends > entry.refusals or entry.attempts > entry.refusals)
    )


def answered_by_the_run_replaced(replaces: Collection[str], existing: LedgerEntry) -> bool:
    """Whether ``existing`` is the answer one of the runs this ticket's run was started to
    replace sent, may have sent, or began to send (``replaces``: a ticket started again under
    its id after its run ended without completing: cancelled just after its send or while a
    send had timed out, terminated while delivering). Then this run's answer must not go out
    as a second one under another key: the row is kept, and the delivery completes with it
    (sent), stops for a person (``uncertain``), or sends it again under its own key, as that
    run's next attempt would have (``send_begun``). A row such a run recorded and never sent,
    or whose every send was refused for good, is replaced as before."""
    return (
        existing.chain is not None
        and existing.chain in replaces
        and (may_have_gone_out(existing) or send_begun(existing))
    )


class ChainErased(LookupError):
    """The ticket this delivery is for was erased (``erase``): its answer is neither recorded
    nor sent. An attempt already under way as the erasure ran ends here."""

    def __init__(self, ticket_id: str) -> None:
        super().__init__(
            f"ticket {ticket_id} was erased (erase on request): its answer is neither recorded "
            "nor sent"
        )
        self.ticket_id = ticket_id


class DeliveryLedger(ABC):
    @abstractmethod
    async def fence(self, chains: Collection[str]) -> None:
        """Before an erasure deletes tickets: no row is recorded from now on for these chains
        (the erased tickets' runs' chains, their first run ids), ``record`` raises ChainErased.
        A delivery already under way as its workflow was deleted went on and wrote its row (the
        answer, in plain text) after the erasure had deleted the rows. The chains are random
        ids, nothing of the customer's; kept for good (one row per erased chain): a ticket whose
        deletion the server refused keeps running fenced, for as long as it waits, and no age
        of a fence tells that it is gone."""

    @abstractmethod
    async def record(self, delivery: NewDelivery) -> tuple[LedgerEntry, bool]:
        """The ticket's row: written now if there was none (True), else the one already there
        (False), whatever ``delivery`` says. One exception: a row of another ticket of the same
        id (another ``chain``: one submitted again after the first ended or was purged, or one
        in another namespace on the same database) is replaced by this decision (True) unless an
        attempt of that ticket is sending it right now (its claim holds): then it is returned as
        it is, for the caller to wait that send out. A row without a chain (recorded before
        chains were) belongs to every chain. ChainErased for a chain ``fence`` was given."""

    @abstractmethod
    async def mark_sent(self, ticket_id: str, key: str | None = None) -> LedgerEntry:
        """The channel accepted the answer; keeps the first time if marked twice. ``key``: the
        idempotency key of the decision that was sent; a row holding another decision by now
        (another ticket of the id took it over) is not marked, and LookupError says so."""

    @abstractmethod
    async def claim(
        self, ticket_id: str, holder: str, seconds: float, key: str | None = None
    ) -> bool:
        """Take the right to send this ticket's answer for ``seconds`` (``holder``: one attempt's
        own id). False while another attempt's claim runs, or once the answer is marked sent:
        two attempts that overlap (a local attempt whose workflow task timed out and another
        worker's, a queued attempt whose heartbeat lapsed mid-send) never both send. ``key``:
        the idempotency key of the decision the caller read; False if the row holds another by
        now (another ticket of the id took it over between the read and the claim). A claim
        taken counts a send begun (``sends``); the same holder's again does not."""

    @abstractmethod
    async def release(self, ticket_id: str, holder: str, *, unsent: bool = False) -> None:
        """Give a claim back early (its send failed): the next attempt need not wait it out.
        ``unsent``: the holder sent nothing under it (the claim came too late in its attempt to
        send), so the send it counted is taken back too."""

    @abstractmethod
    async def note_failure(self, ticket_id: str, error: str, key: str | None = None) -> None:
        """An attempt to send failed; the row stays unsent and keeps the reason, and counts a
        refusal when ``error`` starts with REFUSED_PREFIX. Given ``key``, only while the row is
        that answer's: another ticket of the same id that took the row over keeps its own."""

    @abstractmethod
    async def reroute(self, ticket_id: str, key: str, sent_via: str) -> LedgerEntry | None:
        """Send this decision (``key``) through ``sent_via`` from now on, when the row is
        ``refused_every_time`` (nothing went out) and no claim is left on it (a refused send
        gives its claim back; a send whose worker died never did, and may have gone out). The
        row as it is now, or None when it may not move. An operator who fixed a ticket's routing
        (the channel the worker uses for it) and redrove it had the recorded channel refuse it
        again, for good."""

    @abstractmethod
    async def get(self, ticket_id: str) -> LedgerEntry | None: ...

    @abstractmethod
    async def entries(self) -> list[LedgerEntry]:
        """Every row, oldest first (for tests and operators; the ledger is not a queue)."""

    @abstractmethod
    async def count(self, ticket_id: str | None = None) -> int: ...

    @abstractmethod
    async def delete(self, customer_id: str, *, any_case: bool = False) -> list[str]:
        """Erase every row of this customer (erasure on request); returns the ticket ids whose
        rows were deleted. By customer, not by ticket id: a row under one of the customer's
        ticket ids may now be another ticket's (another namespace's, on a shared database).
        ``any_case``: compared without regard to case, for an e-mail address (an e-mailed
        ticket's customer id is its sender's address)."""

    @abstractmethod
    async def customer_rows(self, customer_id: str, *, any_case: bool = False) -> list[str]:
        """The ticket ids of the rows ``delete`` would erase (a dry run's count)."""

    @abstractmethod
    async def delete_answer(
        self, ticket_id: str, chains: Collection[str], customer_id: str | None
    ) -> bool:
        """Erase the row under ``ticket_id`` when it answers one of ``chains`` (the runs of a
        ticket erasure found), or, recorded before chains were kept, holds ``customer_id`` (the
        found ticket's, None for none): an older row under that id may be another customer's.
        True when a row went. For tickets found by e-mail address, whose rows may hold no
        customer id."""

    @abstractmethod
    def location(self, ticket_id: str) -> str:
        """Where the row lives, safe to print and to keep in a history (no password)."""

    def describe(self) -> str:
        return type(self).__name__

    async def clear_erased(self) -> None:
        """After an erasure's deletes: drop what the store still keeps of the deleted rows
        outside them (SQLite's write-ahead log). Once per erasure, not per row."""
        return None

    async def close(self) -> None:
        return None
