"""The batch workflow reads its input's tickets when a run first needs them (its group's start),
not all at each run's start, nor to learn whether a ticket left holds an unknown field:
a batch of 100,000 tickets validated them all in one activation, past the SDK's 2 s deadlock
limit on two busy cores, and never started."""

from typing import Any

import pytest

from workflows import batch_input
from workflows.batch_input import BatchReads, BatchTicket


def raw(n: int, **extra: Any) -> dict[str, Any]:
    return {"ticket_id": f"T-{n}", "subject": "Refund", "body": f"Order {n}.", **extra}


class CountingBatchTicketFake(BatchTicket):
    made = 0

    def __init__(self, value: Any, place: int) -> None:
        CountingBatchTicketFake.made += 1
        super().__init__(value, place)


def test_only_the_tickets_a_run_needs_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_input, "BatchTicket", CountingBatchTicketFake)
    CountingBatchTicketFake.made = 0
    raws: list[Any] = [raw(n) for n in range(1_000)]
    raws[700] = raw(700, order_id="ORD-7")  # a newer version's field
    raws[800] = "not a ticket"
    reads = BatchReads(raws)

    assert reads.any_other_keys(0) and not reads.any_other_keys(701)
    assert CountingBatchTicketFake.made == 0  # a key that is not a ticket's is seen unread

    group = [reads[place] for place in range(10)] + [reads[3]]
    assert [g.strict.ticket_id for g in group[:3]] == ["T-0", "T-1", "T-2"]  # type: ignore[union-attr]
    assert CountingBatchTicketFake.made == 10  # each read once
    assert isinstance(reads[800].strict, str) and reads[800].strict.startswith("ticket 801")
    assert reads.ids_from(997) == {"T-997", "T-998", "T-999"}
    assert len(reads) == 1_000


def test_whether_any_ticket_left_has_an_unknown_field_reads_no_ticket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A newer client sends its new field, default and all, with every ticket: each of 100,000
    # was read (validated twice) at the run's start, 6.7 s on two busy cores, and the first
    # workflow task hit the deadlock limit at every attempt. Reading up to the first valid one
    # still read them all when every one was invalid (2.4 s for 100,000).
    monkeypatch.setattr(batch_input, "BatchTicket", CountingBatchTicketFake)
    CountingBatchTicketFake.made = 0
    invalid = [{"ticket_id": f"T-{n}", "order_id": None} for n in range(1_000)]

    assert BatchReads([raw(n, order_id=None) for n in range(1_000)]).any_other_keys(5)
    assert BatchReads(invalid).any_other_keys(0)
    assert CountingBatchTicketFake.made == 0
    assert not BatchReads([raw(1), raw(2), "not a ticket", 7]).any_other_keys(0)


def test_an_item_s_reason_quotes_each_unknown_name_cut_short() -> None:
    # A review (2026-12-07): the reason named unknown fields whole: two keys of 100,000
    # characters made one item's reason 200,128 characters, kept (20 of them) across every
    # continue-as-new, returned by the progress query and printed by the CLI.

    item = {"ticket_id": "T-1", "subject": "s", "body": "", "k" * 100_000: 1, "j" * 100_000: 2}
    reason = BatchTicket(item, 0).lenient
    assert isinstance(reason, str)
    assert len(reason) < 500, len(reason)
    assert "k" * 40 + ": Extra inputs are not permitted" in reason
    # An item whose only problem is such a field: started, the field named cut short.
    newer = BatchTicket({"ticket_id": "T-2", "subject": "s", "body": "b", "n" * 1_000: 1}, 1)
    assert newer.unknown_fields == ["n" * 40]
