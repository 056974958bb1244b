"""An erasure fences its tickets' chains before it deletes their workflows: a delivery already
under way as its ticket was erased records no row after (it wrote the answer, in plain text,
once the erasure had deleted the rows, and the row stayed). Both ledgers."""

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from shared.stores.ledger import ChainErased, DeliveryLedger
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


async def test_a_fence_however_old_still_refuses_after_later_erasures(
    ledger: DeliveryLedger,
) -> None:
    """A ticket whose deletion the server refused keeps running fenced: pruning fences by age
    (tried: 30 days) let it record, and send, the erased customer's answer."""
    await ledger.fence(["refused-deletion"])
    await _backdate(ledger, "refused-deletion", datetime.now(UTC) - timedelta(days=400))
    await ledger.fence(["another-erasure"])
    with pytest.raises(ChainErased):
        await ledger.record(delivery("T-6", chain="refused-deletion"))


async def _backdate(ledger: DeliveryLedger, chain: str, moment: datetime) -> None:
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
