"""Redrive's plan for a DELIVERY_FAILED ticket whose answer may have arrived when the ledger's
row for its id is another ticket's now (a review, 2026-12-07): it was redelivered (a second copy
to the customer if the first had arrived); the advice for a doubt that is the other ticket's
could never be followed; and a --not-arrived given for an answer whose delivery said it went
out was applied as "recorded sent". Fakes: the ledger (a dict) and the history read."""

from typing import Any

import pytest

from shared.stores.ledger import UNCERTAIN_PREFIX
from starter import redrive_plans
from starter.delivery_history import DeliveryHistory
from starter.redrive import flags_against_plan
from tests.unit.test_redrive_replaced_row import item, row


class FakeLedger:
    def __init__(self, entry: Any) -> None:
        self.entry = entry

    async def get(self, ticket_id: str) -> Any:
        return self.entry


def history(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    async def read(*_: Any) -> DeliveryHistory:
        return DeliveryHistory(reset_event_id=7, **fields)

    monkeypatch.setattr(redrive_plans, "read_delivery", read)


async def plan(entry: Any, checked: dict[str, bool] | None = None) -> redrive_plans.RedriveItem:
    return await redrive_plans.plan_delivery_failed(
        None,  # type: ignore[arg-type]  # the history read is faked
        FakeLedger(entry),  # type: ignore[arg-type]
        item([]),
        checked,
    )


OWN_KEY = row("run-2").idempotency_key  # this ticket's (chain run-2) answer's key


async def test_a_doubted_answer_whose_row_another_ticket_took_is_not_sent_again_unasked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history(monkeypatch, doubted_key=OWN_KEY)
    other_tickets = row("run-9", last_error=None)  # certain, another chain's

    unasked = await plan(other_tickets)
    assert unasked.action == "skip" and f"--not-arrived {unasked.ticket_id}" in unasked.why

    not_arrived = await plan(other_tickets, {"T-1": False})
    assert not_arrived.action == "redeliver"
    assert flags_against_plan([not_arrived], {"T-1": False}) is None  # the advice is followable

    arrived = await plan(other_tickets, {"T-1": True})
    assert arrived.action == "skip" and arrived.flag_used
    assert flags_against_plan([arrived], {"T-1": True}) is None


async def test_a_doubt_that_is_another_runs_row_is_settled_by_the_flags_it_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its advice named --arrived and --not-arrived, which were then refused (that other run is
    never planned: not the newest), and the ticket stayed DELIVERY_FAILED for good."""
    history(monkeypatch)
    theirs = row("run-9", last_error=UNCERTAIN_PREFIX + "the relay went quiet")

    unasked = await plan(theirs)
    assert unasked.action == "skip" and "--not-arrived T-1" in unasked.why

    sent_again = await plan(theirs, {"T-1": False})
    assert sent_again.action == "redeliver"
    assert flags_against_plan([sent_again], {"T-1": False}) is None
    stands = await plan(theirs, {"T-1": True})
    assert stands.action == "skip" and flags_against_plan([stands], {"T-1": True}) is None


def test_a_flag_the_plan_goes_against_is_refused_before_anything_is_done() -> None:
    recorded = item([])
    recorded.action = "record-sent"  # its delivery said the answer went out
    assert flags_against_plan([recorded], {"T-1": True}) is None
    problem = flags_against_plan([recorded], {"T-1": False})
    assert problem is not None and "goes against" in problem
    skipped = item([])
    assert "not a DELIVERY_FAILED ticket" in (flags_against_plan([skipped], {"T-1": True}) or "")


async def test_an_answer_that_went_out_unrecorded_is_never_sent_again_whatever_the_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its own answer went out (its delivery said so) and the row in doubt is another run's:
    the advice to pass --not-arrived promised a send that would be a second copy."""
    history(monkeypatch, sent_key=OWN_KEY)
    theirs = row("run-9", last_error=UNCERTAIN_PREFIX + "the relay went quiet")

    for checked in (None, {"T-1": False}, {"T-1": True}):
        planned = await plan(theirs, checked)
        assert planned.action == "skip" and "second copy" in planned.why
        assert "--not-arrived" not in planned.why


def test_a_flag_for_a_ticket_redriven_before_is_settled_not_refused() -> None:
    """The same `--yes --not-arrived` command run again (after Ctrl-C, or the exit 3 that says
    to run it again) found the ticket it had reset skipped as redriven before and refused the
    whole command, the tickets it had not reached yet left DELIVERY_FAILED."""
    done = item([])
    done.why = "redriven before: a newer run run-9 is COMPLETED"
    left = item([])
    left.ticket_id, left.action, left.flag_used = "T-2", "resend", True
    assert flags_against_plan([done, left], {"T-1": False, "T-2": False}) is None
    assert flags_against_plan([done, left], {"T-1": True, "T-2": False}) is None
    # A ticket the window does not hold at all is still refused by name.
    problem = flags_against_plan([done, left], {"T-1": False, "T-3": False}) or ""
    assert "T-3: not a DELIVERY_FAILED ticket" in problem
