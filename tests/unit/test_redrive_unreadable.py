"""One ticket redrive cannot read (its input under a key missing from the ring, or deleted
between the listing and its describe) is skipped with the reason; the others are planned. It
ended the whole command with exit 1 and nothing redriven."""

from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from policy.transitions import TicketState
from shared.encryption.codec import UnknownEncryptionKey
from starter import redrive


class ListingFake:
    """A fake client listing three failed tickets."""

    def list_workflows(self, query: str, limit: int) -> AsyncIterator[Any]:
        async def listed() -> AsyncIterator[Any]:
            for n in (1, 2, 3):
                yield SimpleNamespace(id=f"ticket-T-{n}", run_id=f"run-{n}", task_queue="tickets")

        return listed()


async def test_a_ticket_redrive_cannot_read_is_skipped_with_why_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def plan_one(client: Any, ledger: Any, state: Any, item: Any, checked: Any) -> Any:
        if item.ticket_id == "T-1":
            raise UnknownEncryptionKey("key k-2024 is not in this ring")
        if item.ticket_id == "T-2":
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        item.action, item.why = "restart", "nothing was delivered"
        return item

    monkeypatch.setattr(redrive, "_plan_one", plan_one)

    report = await redrive.plan(
        ListingFake(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        TicketState.FAILED,
        timedelta(hours=1),
        10,
    )

    planned = {t.ticket_id: (t.action, t.why) for t in report.tickets}
    assert planned["T-1"] == ("skip", "could not be read here (UnknownEncryptionKey): not redriven")
    assert planned["T-2"][0] == "skip" and "workflow not found" in planned["T-2"][1]
    assert planned["T-3"] == ("restart", "nothing was delivered")
