"""A review whose update's connection failed while it was being sent may have been applied: it
is said so (504, "look again before sending it again"), not "not sent" (503), which had a
reviewer send another decision over the applied one (a review, 2026-12-07). Fakes stand in for
the reads before the send and for the send itself (named as fakes)."""

from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from shared import review_operations
from shared.operation_errors import ReviewMaybeSent
from shared.review import ReviewAction, ReviewDecision


@pytest.mark.parametrize(
    ("status", "maybe"),
    [
        (RPCStatusCode.UNAVAILABLE, True),
        (RPCStatusCode.DEADLINE_EXCEEDED, True),
        (RPCStatusCode.INVALID_ARGUMENT, False),
    ],
)
async def test_a_review_whose_connection_failed_as_it_was_sent_may_have_been_applied(
    monkeypatch: pytest.MonkeyPatch, status: RPCStatusCode, maybe: bool
) -> None:
    async def describe_fake(client: Any, ticket_id: str) -> SimpleNamespace:
        return SimpleNamespace(workflow_status="RUNNING", state="AWAITING_REVIEW")

    async def polling_fake(client: Any) -> bool:
        return True

    async def view_fake(client: Any, ticket_id: str, running: bool) -> None:
        return None

    async def send_fake(*args: Any) -> Any:
        raise RPCError("connection reset", status, b"")

    monkeypatch.setattr(review_operations, "describe_ticket", describe_fake)
    monkeypatch.setattr(review_operations, "workers_polling", polling_fake)
    monkeypatch.setattr(review_operations, "_view_of", view_fake)
    monkeypatch.setattr(review_operations, "_review_linked", send_fake)
    monkeypatch.setattr(review_operations, "_handle", lambda client, ticket_id: None)
    decision = ReviewDecision(action=ReviewAction.APPROVE, reviewer="ana", revision=1)

    with pytest.raises(Exception) as raised:
        await review_operations.submit_review(SimpleNamespace(), "T-1", decision)  # type: ignore[arg-type]

    assert isinstance(raised.value, ReviewMaybeSent) is maybe
    if maybe:
        assert "may have been applied" in str(raised.value)
        assert "look at ticket T-1 again" in str(raised.value)
    else:
        assert isinstance(raised.value, RPCError)
