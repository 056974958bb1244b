"""The batch workflow reads its input's tickets when a run first needs them (its group's start,
or the question whether a ticket left holds an unknown field), not all at each run's start:
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

    unknown = reads.first_with_unknown_fields(0)
    assert unknown is not None and unknown.unknown_fields == ["order_id"]
    assert CountingBatchTicketFake.made == 1  # the one with a key that is not a ticket's

    group = [reads[place] for place in range(10)] + [reads[3]]
    assert [g.strict.ticket_id for g in group[:3]] == ["T-0", "T-1", "T-2"]  # type: ignore[union-attr]
    assert CountingBatchTicketFake.made == 11  # each read once
    assert isinstance(reads[800].strict, str) and reads[800].strict.startswith("ticket 801")
    assert reads.ids_from(997) == {"T-997", "T-998", "T-999"}
    assert len(reads) == 1_000


def test_whether_any_ticket_left_has_an_unknown_field_reads_up_to_the_first_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A newer client sends its new field, default and all, with every ticket: each of 100,000
    # was read (validated twice) at the run's start, 6.7 s on two busy cores, and the first
    # workflow task hit the deadlock limit at every attempt.
    monkeypatch.setattr(batch_input, "BatchTicket", CountingBatchTicketFake)
    CountingBatchTicketFake.made = 0
    reads = BatchReads([raw(n, order_id=None) for n in range(1_000)])

    first = reads.first_with_unknown_fields(5)

    assert first is not None and first.unknown_fields == ["order_id"]
    assert CountingBatchTicketFake.made == 1
    assert BatchReads([raw(1), raw(2)]).first_with_unknown_fields(0) is None
