"""An erasure fences its tickets' chains before it deletes their workflows: a delivery already
under way as its ticket was erased records no row after (it wrote the answer, in plain text,
once the erasure had deleted the rows, and the row stayed). Both ledgers."""

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from shared.stores.ledger import FENCE_KEPT, ChainErased, DeliveryLedger
from shared.stores.postgres_ledger import PostgresLedger
from shared.stores.sqlite_ledger import SqliteLedger
from tests.stores.conftest import delivery


async def test_a_fenced_chain_records_no_row_and_another_chain_of_the_id_still_does(
    ledger: DeliveryLedger,
) -> None:
    await ledger.record(delivery("T-1", chain="erased-run"))
    await ledger.fence(["erased-run", "erased-run"])  # the same chain twice is one
    assert await ledger.delete_answer("T-1", ["erased-run"], None)

    # The attempt that was under way records its answer again: refused, nothing written.
    with pytest.raises(ChainErased, match="ticket T-1 was erased"):
        await ledger.record(delivery("T-1", chain="erased-run"))
    assert await ledger.count("T-1") == 0

    # A ticket submitted again under the id later (another chain) is another ticket.
    entry, written = await ledger.record(delivery("T-1", chain="new-run"))
    assert written and entry.chain == "new-run"
    # Nor may the fenced chain take over that ticket's row (a replacement of another chain's).
    with pytest.raises(ChainErased):
        await ledger.record(delivery("T-1", text="Other.", chain="erased-run"))
    assert (await ledger.get("T-1")).chain == "new-run"  # type: ignore[union-attr]


async def test_fencing_nothing_or_the_same_chain_again_changes_nothing(
    ledger: DeliveryLedger,
) -> None:
    await ledger.fence([])
    await ledger.fence(["c-1"])
    await ledger.fence(["c-1", "c-2"])
    with pytest.raises(ChainErased):
        await ledger.record(delivery("T-2", chain="c-2"))
    # A delivery naming no chain (recorded by a run from before chains) is not fenced.
    _, written = await ledger.record(delivery("T-3"))
    assert written


async def test_a_fence_older_than_it_is_kept_goes_at_the_next_erasure_and_a_recent_one_stays(
    ledger: DeliveryLedger,
) -> None:
    """The table took a row per erased chain for good; a late writer lives seconds (an
    attempt's start-to-close), so a month-old fence protects nothing."""
    await ledger.fence(["old-chain", "recent-chain"])
    await _erased_at(ledger, "old-chain", datetime.now(UTC) - FENCE_KEPT - timedelta(minutes=1))
    await _erased_at(ledger, "recent-chain", datetime.now(UTC) - FENCE_KEPT + timedelta(hours=1))
    with pytest.raises(ChainErased):  # still fenced until an erasure prunes it
        await ledger.record(delivery("T-4", chain="old-chain"))

    await ledger.fence(["new-chain"])

    _, written = await ledger.record(delivery("T-4", chain="old-chain"))
    assert written
    for kept in ("recent-chain", "new-chain"):
        with pytest.raises(ChainErased):
            await ledger.record(delivery("T-5", chain=kept))


async def _erased_at(ledger: DeliveryLedger, chain: str, moment: datetime) -> None:
    """Backdate one fence, in the form each ledger writes."""
    if isinstance(ledger, SqliteLedger):

        def backdate() -> None:
            with sqlite3.connect(ledger.path) as conn:
                conn.execute(
                    "UPDATE erased_chains SET erased_at = ? WHERE chain = ?",
                    (moment.isoformat(), chain),
                )

        await asyncio.to_thread(backdate)
        return
    assert isinstance(ledger, PostgresLedger)
    async with ledger.database.connection() as conn:
        await conn.execute(
            "UPDATE erased_chains SET erased_at = %s WHERE chain = %s", (moment, chain)
        )
