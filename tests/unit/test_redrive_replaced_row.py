"""Which ledger row a DELIVERY_FAILED ticket's redrive acts on: its own, the answer of a run it
replaced (named in its memo), or, when the memo cannot be read here, the row its delivery's own
doubt named by key. Read as another ticket's, a replaced run's answer that may have arrived
could be settled by nothing (--arrived and --not-arrived refused, the ticket stuck)."""

from datetime import UTC, datetime

from shared.delivery import idempotency_key, text_sha256
from shared.stores.ledger import UNCERTAIN_PREFIX, LedgerEntry
from starter import redrive_plans as redrive


def row(
    chain: str, last_error: str | None = UNCERTAIN_PREFIX + "the relay went quiet"
) -> LedgerEntry:
    digest = text_sha256("Your answer.")
    return LedgerEntry(
        ticket_id="T-1",
        channel="email",
        customer_id="C-1",
        revision=1,
        body="Your answer.",
        text_sha256=digest,
        idempotency_key=idempotency_key("T-1", digest, chain),
        sent_via="webhook",
        recorded_at=datetime(2026, 12, 5, tzinfo=UTC),
        sent_at=None,
        attempts=1,
        last_error=last_error,
        chain=chain,
        sends=1,
    )


def item(replaces: list[str]) -> redrive.RedriveItem:
    return redrive.RedriveItem(
        ticket_id="T-1",
        workflow_id="ticket-T-1",
        run_id="run-3",
        action="skip",
        why="",
        chain="run-2",
        replaces=replaces,
    )


def test_the_answer_of_a_run_this_ticket_replaced_is_its_own() -> None:
    replaced = row("run-1")
    assert redrive.delivered_for(replaced, item(["run-1"]), None) is replaced


def test_without_the_memo_the_row_its_own_doubt_named_is_its_own() -> None:
    replaced = row("run-1")
    assert redrive.delivered_for(replaced, item([]), replaced.idempotency_key) is replaced


def test_another_tickets_row_is_not() -> None:
    stranger = row("run-9")
    assert redrive.delivered_for(stranger, item(["run-1"]), None) is None
    assert redrive.delivered_for(stranger, item(["run-1"]), row("run-1").idempotency_key) is None


def test_a_refusal_to_send_an_answer_that_may_have_arrived_names_its_row_by_key() -> None:
    # What redrive reads as the delivery's doubt (starter/delivery_history.py _doubted_key).
    from activities.delivery.errors import not_sent_again
    from shared import names

    replaced = row("run-1")
    refusal = not_sent_again(replaced, "the run this one replaced")
    assert list(refusal.details) == [names.DELIVERY_MAY_HAVE_ARRIVED, replaced.idempotency_key]
    assert "--not-arrived T-1" in refusal.message
