"""Bulk tickets: one batch workflow starts ticket workflows as children in a sliding window."""

from typing import Any, Final

from pydantic import BaseModel, Field

from policy.transitions import FAILED_STATES, TicketState
from shared.tickets import Ticket

# The state under which a batch counts the items of its input that are not tickets.
INVALID: Final = "INVALID"
# Tickets one batch takes (the CLI's one file holds at most as many): a batch started by another
# client with more fails at once, saying so (workflows/batch_patches.py BATCH_REFUSES_TOO_MANY).
MAX_BATCH_TICKETS: Final = 100_000
# A ticket whose id an ended run held and whose start again failed for good (the ended run stays
# as it is, for a person): counted apart from the tickets that were already known.
RESTART_FAILED: Final = "RESTART_FAILED"
# How the batch's check on quiet tickets (activities/ticket_activities.py check_tickets) names
# a ticket whose workflow timed out, or that is gone; with RESTART_FAILED, ends with no answer
# sent that are nobody's decision.
NOT_ANSWERED_CLOSED: Final = (RESTART_FAILED, "TIMED_OUT", "NOT_FOUND")
# How the check names a ticket an operator ended (terminated, cancelled): their decision, not
# counted as failed; but for a ticket whose start again failed for good, the ended run that held
# its id (workflows/batch.py counts it RESTART_FAILED).
OPERATOR_ENDED: Final = ("TERMINATED", "CANCELLED")
# A ticket in flight whose run the batch's check found replaced by a run started outside the
# batch (an operator ended it and started it again with `submit`, the API or `redrive`): that
# run does not report to this batch, which held its place until it closed. Counted as the
# operator's decision, like TERMINATED: the ticket goes on outside.
REPLACED: Final = "REPLACED"
# A ticket whose id another ticket took while the batch ran (other subject, body or customer;
# the CLI refuses one held before it starts the batch): NOT processed, named in ``conflicts``.
# It was counted as already known, and nothing said it had never been worked on.
ID_CONFLICT: Final = "ID_CONFLICT"
# How many such tickets' ids the batch keeps (all are counted).
MAX_CONFLICT_IDS: Final = 20
# Every state a ticket_settled signal may report: a ticket's own (its state at rest), or how the
# batch's check found it closed (activities/ticket_activities.py check_tickets: the workflow's
# status, CANCELLED as the ticket says it), or gone.
SETTLED_STATES: Final = frozenset(
    {
        *(s.value for s in TicketState),
        *("COMPLETED", "FAILED", "TERMINATED", "TIMED_OUT", "CONTINUED_AS_NEW", "CANCELLED"),
        *NOT_ANSWERED_CLOSED,
        ID_CONFLICT,
        REPLACED,
    }
)


# The longest check interval: 7,000 years. The workflow adds it to the last check's time, and
# 1e12 seconds (31,700 years) is past what a date holds (the server takes such a timer); up to
# about 7,970 years from 2026 worked before any bound, and this one holds until the year 2999.
MAX_CHECK_SECONDS: Final = 7_000 * 365 * 86_400.0


class BatchSettings(BaseModel):
    # Tickets in flight at once: started and not yet at rest (completed, failed, rejected or
    # waiting for a person).
    window: int = Field(default=50, ge=1, le=1_000)
    # The batch continues as new after starting this many tickets, so its history stays small.
    # At most 1,000: a run's history holds about ten events per ticket it starts.
    tickets_per_run: int = Field(default=500, ge=1, le=1_000)
    # This often, ask the server about the tickets in flight: one terminated by an operator (or
    # timed out) never reports in, and must not hold its place in the window for ever.
    # Bounded: 1e12 from a program failed the batch's first workflow task on every attempt,
    # before any ticket started. Not by a day, as it was from 2026-12-05 (c07641f): a batch's
    # input is read again on every replay, and one started with two days before then failed
    # every workflow task on a worker with the day's bound.
    check_after_seconds: float = Field(
        default=600.0, ge=1.0, le=MAX_CHECK_SECONDS, allow_inf_nan=False
    )


class BatchTotals(BaseModel):
    total: int = 0
    started: int = 0
    already_known: int = 0  # ticket workflows that existed before: not processed again
    settled: dict[str, int] = Field(default_factory=dict)  # by the state each ticket rested in
    runs: int = 1
    # Why tickets of the input were not tickets (place, id, fields), the first few; counted
    # under INVALID in ``settled``.
    invalid: list[str] = Field(default_factory=list)
    # The ids of tickets another ticket's id held when the batch came to them (ID_CONFLICT), the
    # first few.
    conflicts: list[str] = Field(default_factory=list)


class BatchState(BaseModel):
    """Carried across continue-as-new (the tickets travel as their own argument)."""

    settings: BatchSettings = Field(default_factory=BatchSettings)
    position: int = Field(default=0, ge=0)  # the next ticket of the input to start
    totals: BatchTotals = Field(default_factory=BatchTotals)
    in_flight: list[str] = Field(default_factory=list)  # ticket ids started, not yet at rest
    # Of those, the ones whose start again (restart_tickets) failed for good: not known to have
    # started (a later run's progress says so, and its check counts them as not started again).
    restarting: list[str] = Field(default_factory=list)
    # Ticket id -> its fairness key, made by the client with the key ring (policy/priority.py):
    # workflow code holds no key. Tickets not in it get the plain digest. Trimmed to the tickets
    # not yet started at each continue-as-new.
    fairness_keys: dict[str, str] = Field(default_factory=dict)
    # The run this one was continued as new from, written by that run as it continued (a run
    # started with this state is a first run: workflows/run_chain.py).
    continued_from: str | None = None


class TicketSettled(BaseModel):
    """Signal from a ticket workflow to the batch that started it: it is at rest."""

    ticket_id: str
    state: str


class BatchProgress(BaseModel):
    total: int
    started: int
    already_known: int
    in_flight: int
    settled: dict[str, int]
    invalid: list[str] = Field(default_factory=list)  # the first few invalid tickets' reasons
    conflicts: list[str] = Field(default_factory=list)  # the first few ID_CONFLICT tickets' ids
    # Of ``in_flight``, tickets whose start was refused (an ended run held their id) and which
    # are being started again (restart_tickets): not started yet, or not known to be.
    restarting: int = 0

    @property
    def done(self) -> int:
        return self.already_known + sum(self.settled.values())

    @property
    def failed(self) -> int:
        """Tickets this batch ran that ended without their answer sent, for the pipeline's
        reason (FAILED, DELIVERY_FAILED), that it could not start again, or whose workflow the
        batch's check found timed out or gone (a script reading `batch --wait`'s exit code took
        those for answered). An operator's terminate or cancel is a decision, as in `submit`."""
        return sum(
            self.settled.get(s, 0) for s in (*FAILED_STATES, *NOT_ANSWERED_CLOSED, ID_CONFLICT)
        )


class TicketRestart(BaseModel):
    """A batch's ticket whose id an ended run holds, to start again as ``submit`` would
    (activities/ticket_activities.py restart_ticket)."""

    ticket: Ticket
    batch_id: str
    task_queue: str
    # The key the batch's client made for it (None: it sent none), as its child start carries.
    fairness_key: str | None = None
    # Its input as listed, fields this version does not know included, when its child start
    # sent it whole (unknown-fields-left-out): started again the same way, so its workflow names
    # them (and a newer worker reads them). An older worker ignores this field.
    raw: dict[str, Any] | None = None


class TicketRestarts(BaseModel):
    """The tickets of one batch group whose child starts were refused because ended runs hold
    their ids, to start again as ``submit`` would, in one activity
    (activities/ticket_activities.py restart_tickets)."""

    tickets: list[Ticket]
    batch_id: str
    task_queue: str
    # The keys the batch's client made for them (a ticket absent: it sent none).
    fairness_keys: dict[str, str] = Field(default_factory=dict)
    # The inputs sent whole, by ticket id (TicketRestart.raw).
    raw_inputs: dict[str, dict[str, Any]] = Field(default_factory=dict)


class RestartsDone(BaseModel):
    """What ``restart_tickets`` did: the tickets it started again, those it could not start
    (ticket id -> the kind of error, no ticket text); the rest are held by a run that is running
    or completed, or by another ticket."""

    started: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)
    # Held by another ticket (other subject, body or customer): not started, and not its own.
    conflicts: list[str] = Field(default_factory=list)


class TicketCheck(BaseModel):
    """Which of these tickets' workflows have closed (the batch asks when none reported in)."""

    ticket_ids: list[str]
