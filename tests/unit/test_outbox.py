"""The outbox writes each ticket's answer exactly once, however often delivery is retried."""

import asyncio
import sqlite3
from pathlib import Path

from activities.outbox import Outbox


def rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT ticket_id, channel, customer_id, revision, body FROM deliveries"
        ).fetchall()
    finally:
        conn.close()


async def test_the_first_delivery_writes_a_row_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)

    receipt = await outbox.deliver("T-1", "email", "C-1", 2, "Hello, here is your answer.")

    assert receipt.already_delivered is False
    assert receipt.ticket_id == "T-1"
    assert receipt.channel == "email"
    assert receipt.revision == 2
    assert receipt.location == f"outbox:{path}#T-1"
    assert receipt.delivered_at.tzinfo is not None
    assert rows(path) == [("T-1", "email", "C-1", 2, "Hello, here is your answer.")]


async def test_a_second_delivery_of_the_same_ticket_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    first = await outbox.deliver("T-1", "email", "C-1", 1, "The first answer.")

    second = await outbox.deliver("T-1", "chat", "C-1", 3, "A different, later answer.")

    assert second.already_delivered is True
    assert second.revision == 1
    assert second.channel == "email"
    assert second.delivered_at == first.delivered_at
    assert second.location == first.location
    assert rows(path) == [("T-1", "email", "C-1", 1, "The first answer.")]


async def test_the_count_per_ticket_stays_one_after_repeated_deliveries(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")

    for revision in (1, 2, 3):
        await outbox.deliver("T-1", "email", None, revision, f"Answer {revision}.")
    await outbox.deliver("T-2", "web", None, 1, "Another ticket's answer.")

    assert await outbox.count("T-1") == 1
    assert await outbox.count("T-2") == 1
    assert await outbox.count("T-unknown") == 0
    assert await outbox.count() == 2


async def test_concurrent_deliveries_of_one_ticket_write_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)

    receipts = await asyncio.gather(
        *(outbox.deliver("T-1", "email", "C-1", n, f"Answer {n}.") for n in range(1, 21))
    )

    first = [r for r in receipts if not r.already_delivered]
    assert len(first) == 1
    assert len(rows(path)) == 1
    assert await outbox.count("T-1") == 1
    # Every retry reports the revision that was actually written.
    assert {r.revision for r in receipts} == {first[0].revision}


async def test_the_database_and_its_directory_are_created_on_demand(tmp_path: Path) -> None:
    path = tmp_path / "not" / "there" / "yet" / "outbox.sqlite3"
    assert not path.parent.exists()

    await Outbox(path).deliver("T-1", "email", None, 1, "Hello.")

    assert path.is_file()
    assert rows(path) == [("T-1", "email", None, 1, "Hello.")]


async def test_counting_an_outbox_that_was_never_written_creates_it_empty(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "outbox.sqlite3"

    assert await Outbox(path).count() == 0
    assert path.is_file()
