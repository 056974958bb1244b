"""Which reviews the gate refuses before applying them (workflows/review_gate.py): a review made
on a page that showed no draft is refused by the update's validator once a draft exists, and
never by the handler, which replays without the validator."""

from datetime import UTC, datetime

from policy.transitions import TicketState
from shared.review import ReviewAction, ReviewDecision, ReviewRecord
from shared.tickets import Ticket
from shared.view import DraftRecord
from workflows.review_gate import ReviewGate
from workflows.ticket_record import TicketRecord


def waiting_gate(draft_revision: int | None) -> ReviewGate:
    record = TicketRecord(Ticket(ticket_id="T-1", subject="Refund", body="Where is it?"))
    record.view.state = TicketState.AWAITING_REVIEW
    if draft_revision is not None:
        record.view.draft = DraftRecord(revision=draft_revision, text="Here.", author="resolver")
    gate = ReviewGate(record)
    gate._accepting = True  # as while it waits for a person
    return gate


def reject(**fields: object) -> ReviewDecision:
    return ReviewDecision.model_validate({"action": ReviewAction.REJECT, "reason": "x", **fields})


def test_a_review_made_without_a_draft_applies_while_there_is_none() -> None:
    assert waiting_gate(None).admission_problem(reject(saw_no_draft=True)) is None


def test_a_review_made_without_a_draft_is_refused_once_one_is_written() -> None:
    problem = waiting_gate(1).admission_problem(reject(saw_no_draft=True))

    assert problem is not None
    assert "made without a draft, but ticket T-1 now has draft revision 1" in problem


def test_the_handler_does_not_refuse_what_a_validator_accepted() -> None:
    """An update a worker without the rule accepted (a new API, an old worker) replays on a new
    worker through the handler alone: it must apply as it did, or the replay breaks."""
    assert waiting_gate(1).problem(reject(saw_no_draft=True)) is None


def test_a_review_that_names_no_revision_and_does_not_say_it_saw_none_applies() -> None:
    """The CLI's and the Web UI signal's reviews, and those of histories from before the field:
    as before, they apply to the current draft."""
    assert waiting_gate(2).admission_problem(reject()) is None
    assert waiting_gate(2).admission_problem(reject(revision=2, saw_no_draft=False)) is None


def test_a_review_for_an_earlier_ticket_under_the_same_id_is_refused() -> None:
    """A ticket that failed and was submitted again counts its revisions from 1 again: a page
    left open on the first must not approve the second's draft."""
    gate = waiting_gate(1)
    gate._record.view.chain = "run-of-the-second"

    problem = gate.admission_problem(reject(revision=1, chain="run-of-the-first"))

    assert problem is not None and "earlier ticket under the id T-1" in problem
    assert gate.admission_problem(reject(revision=1, chain="run-of-the-second")) is None
    assert gate.admission_problem(reject(revision=1)) is None  # the CLI names no chain
    assert gate.problem(reject(revision=1, chain="run-of-the-first")) is None  # replays as applied


def test_a_decision_the_cancellation_overtook_is_recorded_as_not_applied() -> None:
    # Accepted (its receipt said so) in the activation that also cancelled the ticket: the
    # main loop never took it, yet the view said applied of a ticket that ended CANCELLED.
    gate = waiting_gate(1)
    decision = reject()
    gate._pending = decision  # what accept() leaves, with its record:
    gate._record.view.reviews.append(
        ReviewRecord(decision=decision, at=datetime.now(UTC), applied=True)
    )

    gate.close()

    [record] = gate._record.view.reviews
    assert record.decision == decision and not record.applied
    assert record.note == "the ticket was cancelled before it applied"
    assert gate.admission_problem(reject()) is not None  # nothing is taken any more
