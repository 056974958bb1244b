"""The door a person's review comes through, inside the ticket workflow.

Reviews are taken only while the main loop waits for one. A decision is handed over, not applied:
the main loop applies it in the workflow's own sequence, and no second review is accepted until the
loop waits again (a late review during delivery is refused, never silently dropped). While it waits
the SLA timer runs; if it fires first, the ticket is marked escalated and keeps waiting, until the
final review deadline: then nobody has answered and the wait ends without a decision.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from policy.internal_text import internal_label, label_in_an_edit
    from policy.review_policy import ReviewReason
    from policy.sla import time_left
    from policy.transitions import TicketState
    from shared.review import (
        ReviewAction,
        ReviewDecision,
        ReviewReceipt,
        ReviewRecord,
        as_operator,
        visible,
    )
    from shared.view import TicketView
    from workflows import metrics
    from workflows.ticket_patches import PATCH_ABSORBED_CANCEL_STOPS
    from workflows.ticket_record import TicketRecord

# The final review deadline adds a timer to every wait for review. A ticket that began waiting
# before this change replays without it (its history has no marker) and waits as it always did;
# every wait that begins after the change has the deadline. See docs/versioning.md.
PATCH_REVIEW_FINAL_DEADLINE = "review-final-deadline"
# A ticket whose SLA deadline falls at or after its final review deadline closes at the final
# deadline. It waited out the SLA first, then closed at once, escalated: days late. The worker
# refuses such a configuration when it loads one (shared/pipeline_config.py, shared/settings.py:
# business hours stretch an SLA), but a snapshot recorded before those checks (2026-12-07) is
# read without them. Asked only then.
PATCH_CLOSES_BEFORE_SLA = "closes-before-sla"

# A signal cannot be refused, so what it adds to the ticket (its status answer and its result)
# must be bounded here: an unparseable review keeps only an excerpt of its JSON, a reason is cut
# to a length, and only so many ignored reviews are kept; the rest are counted.
# A ticket is sent back for rework at most this many times; then a person approves, edits
# (writes the reply) or rejects it. Each rework adds a draft, its validation and a wait to the
# history (23-51 events, 100-300 KiB for a long ticket): unbounded, a ticket reworked some 160
# times would reach Temporal's history limit and be terminated, its state lost. The update's
# validator refuses a rework past it (validators do not run on replay: no patch); a signal's is
# ignored, behind PATCH_REWORK_CAP, asked only then.
MAX_REWORKS: Final = 10
PATCH_REWORK_CAP = "rework-cap"
# A review signal made for another wait than the one the ticket is in (its chain, its
# waiting_since) or on a page that showed no draft once there is one is ignored, as the update's
# validator refuses it; before, a signal skipped those checks and was applied. Asked only when
# one of them trips.
PATCH_STALE_SIGNAL_IGNORED = "stale-review-signal-ignored"
# An edit whose text a reader cannot see (only spaces, zero-width or other formatting
# characters) is refused by the update's validator (no patch: validators do not run on replay)
# and ignored as a signal, behind this patch, asked only then: it passed the model's "not empty"
# check and went to the customer as an empty answer.
PATCH_INVISIBLE_EDIT_IGNORED = "invisible-edit-ignored"
# An edit labelled as the team's own ("INTERNAL:", "[internal]", "internal note", TODO) is
# refused by the update's validator and, behind this patch (asked only then), ignored as a
# signal: the Web UI's signal dialog sent a pasted note to the customer as written.
PATCH_INTERNAL_EDIT_IGNORED = "internal-edit-ignored"
# The rule above narrowed to the phrases used as labels ("Internal note:", "[internal]", a line
# of its own): "I have added an internal note to your account" was refused, and a reviewer could
# not send it. The update's validator takes the narrow rule (no patch); a signal whose edit only
# the broad rule catches asks this patch, so one ignored before replays as ignored.
PATCH_INTERNAL_EDIT_NARROWED = "internal-edit-narrowed"

MAX_RAW_EXCERPT_CHARS: Final = 500
MAX_NOTE_CHARS: Final = 500
MAX_IGNORED_REVIEWS_KEPT: Final = 20


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def raw_excerpt(raw: Any) -> str:
    """The start of a payload's JSON (deterministic: sorted keys, no I/O)."""
    try:
        text = json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):  # keys of mixed types cannot be sorted
        text = json.dumps(raw, ensure_ascii=False, default=str)
    return _cut(text, MAX_RAW_EXCERPT_CHARS)


class ReviewGate:
    def __init__(self, record: TicketRecord) -> None:
        self._record = record
        self._accepting = False
        self._pending: ReviewDecision | None = None
        # Tickets since lean-history always have the final deadline, without asking the patch.
        self.lean = False

    async def wait(
        self,
        reasons: list[ReviewReason],
        on_waiting: Callable[[], Awaitable[None]] | None = None,
        final_deadline_hours: float = 0,
    ) -> ReviewDecision | None:
        """Move to AWAITING_REVIEW for ``reasons`` and return the decision a person makes, or
        None when nobody decided within ``final_deadline_hours`` (0: wait for ever).
        ``on_waiting`` runs once the ticket waits (to tell a batch it is at rest)."""
        # Before anything about this wait is recorded: a ticket cancelled here never waited.
        stop_if_cancelled()
        view = self._record.view
        view.review_reasons = [reason.text for reason in reasons]
        # Each code once, in the order first given: the ticket's TicketReviewReasons.
        view.review_reason_codes = list(dict.fromkeys(reason.code.value for reason in reasons))
        closes_at: datetime | None = None
        if final_deadline_hours and (self.lean or workflow.patched(PATCH_REVIEW_FINAL_DEADLINE)):
            closes_at = workflow.now() + timedelta(hours=final_deadline_hours)
        view.review_closes_at = closes_at
        self._record.move(TicketState.AWAITING_REVIEW, "policy", "; ".join(view.review_reasons))
        self._accepting = True
        if on_waiting is not None:
            await on_waiting()
            stop_if_cancelled()
        # Nobody decided by the SLA deadline: make it loud (status, search attribute), keep waiting.
        if (
            not view.escalated
            and view.sla_deadline is not None
            and not _closes_first(closes_at, view.sla_deadline)
            and not await self._decided_before(view.sla_deadline, "review SLA deadline")
        ):
            self._record.escalate()
        if closes_at is None:
            await workflow.wait_condition(lambda: self._pending is not None)
        elif self._pending is None and not await self._decided_before(
            closes_at, "final review deadline"
        ):
            # Nobody answered: refuse every later review; the caller closes the ticket. The close
            # time is shown while the ticket waits only (data, no command).
            self._accepting = False
            view.review_closes_at = None
            # The longest waits count too: a queue nobody staffs read best without them.
            metrics.review_decided(view, "expired")
            return None
        view.review_closes_at = None
        decision, self._pending = self._pending, None
        self._accepting = False
        assert decision is not None
        metrics.review_decided(view, decision.action)
        return decision

    async def _decided_before(self, deadline: datetime, summary: str) -> bool:
        """Wait for a decision until ``deadline`` (a durable timer named ``summary``); whether
        one came. A deadline already past waits for nothing."""
        left = time_left(deadline, workflow.now())
        try:
            if not left:
                raise TimeoutError
            await workflow.wait_condition(
                lambda: self._pending is not None, timeout=left, timeout_summary=summary
            )
        except TimeoutError:
            return self._pending is not None
        return True

    def close(self) -> None:
        """The ticket is ending (cancelled): no review can apply any more, and no close time is
        shown. A decision accepted but not yet taken by the main loop (the cancellation came in
        the same activation) is recorded as not applied: its receipt said accepted, and the view
        said applied, of a ticket that ended CANCELLED without it (a review, 2026-12-07)."""
        self._accepting = False
        view = self._record.view
        view.review_closes_at = None
        pending, self._pending = self._pending, None
        if pending is None:
            return
        for i in range(len(view.reviews) - 1, -1, -1):
            record = view.reviews[i]
            if record.applied and record.decision is pending:
                view.reviews[i] = record.model_copy(
                    update={"applied": False, "note": "the ticket was cancelled before it applied"}
                )
                break

    def problem(self, decision: ReviewDecision) -> str | None:
        """Why ``decision`` cannot be applied now, or None."""
        view = self._record.view
        if view.state is not TicketState.AWAITING_REVIEW or not self._accepting:
            waiting = view.state is TicketState.AWAITING_REVIEW
            doing = "is being worked on" if waiting else f"is {view.state}"
            return f"ticket {view.ticket_id} {doing}, not awaiting review"
        if self._pending is not None:
            return f"ticket {view.ticket_id} already has a review being applied"
        current = view.draft.revision if view.draft else None
        if decision.revision is not None and decision.revision != current:
            return (
                f"this review is for draft revision {decision.revision}, but ticket "
                f"{view.ticket_id} is at revision {current}; look at the current draft and "
                "review again"
            )
        if decision.action is ReviewAction.APPROVE and view.draft is None:
            return (
                f"ticket {view.ticket_id} has no draft to approve; edit (write the reply), "
                "rework or reject it"
            )
        return None

    def admission_problem(self, decision: ReviewDecision) -> str | None:
        """Why the update's validator refuses ``decision`` before anything is written: what
        ``problem`` says, and a review made on a page that showed no draft once a draft exists.
        The second is asked here only: the handler, which runs again on replay without the
        validator, asks ``problem`` alone, so an update accepted before this rule (or by a
        worker without it) replays as it was applied."""
        if problem := self.problem(decision):
            return problem
        return (
            self._stale_problem(decision)
            or self._rework_cap_problem(decision)
            or _invisible_edit_problem(decision)
            or _internal_edit_problem(decision)
        )

    def _stale_problem(self, decision: ReviewDecision) -> str | None:
        """Why ``decision`` was made for something other than what waits now: another run of
        the ticket's id, another wait, or no draft where there is one now."""
        view = self._record.view
        if decision.chain and view.chain and decision.chain != view.chain:
            return (
                f"this review is for an earlier ticket under the id {view.ticket_id} (it was "
                "submitted again since, and this draft is another one); look at it and review again"
            )
        if (wait := wait_problem(view, decision)) is not None:
            return wait
        if decision.saw_no_draft and view.draft is not None:
            return (
                f"this review was made without a draft, but ticket {view.ticket_id} now has draft "
                f"revision {view.draft.revision}; look at it and review again"
            )
        return None

    def _rework_cap_problem(self, decision: ReviewDecision) -> str | None:
        if decision.action is not ReviewAction.REWORK:
            return None
        view = self._record.view
        reworks = sum(r.applied and r.decision is not None and r.decision.action is
                      ReviewAction.REWORK for r in view.reviews)  # fmt: skip
        if reworks < MAX_REWORKS:
            return None
        return (
            f"ticket {view.ticket_id} has been sent back for rework {reworks} times, the most a "
            "ticket takes: approve the draft, edit it (write the reply) or reject the ticket"
        )

    def accept(self, decision: ReviewDecision) -> ReviewReceipt:
        view = self._record.view
        self._pending = decision
        view.reviews.append(ReviewRecord(decision=decision, at=workflow.now(), applied=True))
        return ReviewReceipt(
            ticket_id=view.ticket_id,
            action=decision.action,
            revision=view.draft.revision if view.draft else 0,
            accepted_at=workflow.now(),
        )

    def offer(self, payload: Any) -> None:
        """A review that cannot be refused (a signal): applied if it can be, else recorded as
        ignored with the reason, including when it does not even parse."""
        try:
            decision = ReviewDecision.model_validate(payload)
            # Whoever can signal has namespace access (the Web UI, tctl): an operator, not an
            # authenticated reviewer; the name given is recorded as such. Only data changes, not
            # the workflow's commands, so histories replay as before. Once: a name given as
            # "operator:ana" (the CLI's own form, copied) is not recorded "operator:operator:ana".
            decision = decision.model_copy(update={"reviewer": as_operator(decision.reviewer)})
        except ValidationError as err:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'review'}: {e['msg']}"
                for e in err.errors()
            )
            self._ignore(None, payload, f"not a valid review: {problem}")
            return
        if problem := self.problem(decision):
            self._ignore(decision, None, problem)
            return
        capped = self._rework_cap_problem(decision)
        if capped is not None and workflow.patched(PATCH_REWORK_CAP):
            self._ignore(decision, None, capped)
            return
        stale = self._stale_problem(decision)
        if stale is not None and workflow.patched(PATCH_STALE_SIGNAL_IGNORED):
            self._ignore(decision, None, stale)
            return
        unseen = _invisible_edit_problem(decision)
        if unseen is not None and workflow.patched(PATCH_INVISIBLE_EDIT_IGNORED):
            self._ignore(decision, None, unseen)
            return
        internal = _internal_edit_problem(decision)
        if internal is None and not _held_to_narrow_rule(decision):
            internal = _internal_edit_problem(decision, label=internal_label)
        if internal is not None and workflow.patched(PATCH_INTERNAL_EDIT_IGNORED):
            self._ignore(decision, None, internal)
            return
        self.accept(decision)

    def ignore_unread(self, problem: str) -> None:
        """A review signal whose arguments could not be read at all (none, or more than one),
        recorded as ignored with why."""
        self._ignore(None, None, problem)

    def _ignore(self, decision: ReviewDecision | None, raw: Any, problem: str) -> None:
        view = self._record.view
        problem = _cut(problem, MAX_NOTE_CHARS)
        workflow.logger.warning("review signal ignored: %s", problem)
        if sum(not r.applied for r in view.reviews) >= MAX_IGNORED_REVIEWS_KEPT:
            view.ignored_reviews_dropped += 1
            return
        view.reviews.append(
            ReviewRecord(
                decision=decision,
                raw_excerpt=raw_excerpt(raw) if decision is None else None,
                at=workflow.now(),
                applied=False,
                note=problem,
            )
        )


def wait_problem(view: TicketView, decision: ReviewDecision) -> str | None:
    """A review made for another wait than the one the ticket is in (``waiting_since``), in
    words: a rework came back since, or the time given is not the wait's own."""
    began = view.review_wait_began()
    if (
        decision.waiting_since is not None
        and began is not None
        and (decision.waiting_since != began)
    ):
        given = decision.waiting_since.astimezone(UTC)
        # To the microsecond when the seconds agree: "waited from 10:00:00 ... waits again
        # from 10:00:00" for a time typed without its fraction.
        shape = (
            "%Y-%m-%d %H:%M:%S"
            if int(given.timestamp()) != int(began.timestamp())
            else ("%Y-%m-%d %H:%M:%S.%f")
        )
        waits = [t.at for t in view.transitions if t.to_state is TicketState.AWAITING_REVIEW]
        if len(waits) > 1 and waits[-2] <= given < began:
            return (
                f"this review was made while ticket {view.ticket_id} waited from "
                f"{given:{shape}} UTC; it has been sent back for rework since and waits "
                f"again from {began:{shape}} UTC (the log says why); look at it and review "
                "again"
            )
        return (
            f"ticket {view.ticket_id}'s wait for this review began at {began:{shape}} UTC, "
            f"not at {given:{shape}} UTC: give waiting_since exactly as its status shows it"
        )
    return None


def _closes_first(closes_at: datetime | None, sla_deadline: datetime) -> bool:
    """Whether the wait closes before its SLA deadline passes (PATCH_CLOSES_BEFORE_SLA, asked
    only then): no SLA timer, the final deadline's is the one."""
    if closes_at is None or sla_deadline < closes_at:
        return False
    return workflow.patched(PATCH_CLOSES_BEFORE_SLA)


def _invisible_edit_problem(decision: ReviewDecision) -> str | None:
    if decision.action is not ReviewAction.EDIT or visible(decision.edited_text):
        return None
    return (
        "the edited reply has no character a reader sees (only spaces, line breaks or "
        "zero-width characters): write the reply, or approve, rework or reject the ticket"
    )


def _held_to_narrow_rule(decision: ReviewDecision) -> bool:
    """Whether a signal's edit is held to the narrow rule: asks PATCH_INTERNAL_EDIT_NARROWED
    only when the broad rule would have refused it."""
    if decision.action is not ReviewAction.EDIT or decision.edited_text is None:
        return True
    if internal_label(decision.edited_text) is None:
        return True
    return workflow.patched(PATCH_INTERNAL_EDIT_NARROWED)


def _internal_edit_problem(
    decision: ReviewDecision, label: Callable[[str], str | None] = label_in_an_edit
) -> str | None:
    """An edited reply labelled as the team's own ("Internal note:", "INTERNAL:", "[internal]",
    TODO; ``label_in_an_edit``): pasted from a note, it went to the customer as written. Refused
    by the update's validator (no patch: validators do not run on replay) and ignored as a signal
    (patch internal-edit-ignored)."""
    if decision.action is not ReviewAction.EDIT or decision.edited_text is None:
        return None
    if (found := label(decision.edited_text)) is None:
        return None
    return (
        f"the edited reply holds {found[:40]!r}, which marks the team's own notes, not a "
        "customer's reply: take it out and send the edit again"
    )


def stop_if_cancelled() -> None:
    """A cancel request came and something absorbed it (an awaited child that completed anyway,
    the batch's signal): the ticket is cancelled; no more agent calls, no review. Asked where an
    absorbed cancel can show (after an orchestrator run, before the ticket waits, after it told
    its batch); the patch only when a cancel request has come, so no other history changes."""
    if workflow.cancellation_reason() is not None and workflow.patched(PATCH_ABSORBED_CANCEL_STOPS):
        raise asyncio.CancelledError()
