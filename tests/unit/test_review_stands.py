"""`review` once its review is accepted: an error while it watches the review's effect (a
server restarting) is a warning, and the command succeeds; it said "error" and exited 1 for a
review it had made, and the reviewer ran it again with another decision."""

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

import starter.review_command as review_command
from shared.review import ReviewAction, ReviewReceipt
from starter.cli import build_parser
from starter.errors import EXIT_OK


async def test_an_error_while_watching_an_accepted_review_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def client() -> object:
        return SimpleNamespace()

    async def accepted(*_: Any, **__: Any) -> ReviewReceipt:
        return ReviewReceipt(
            ticket_id="T-1", action=ReviewAction.APPROVE, revision=1, accepted_at=datetime.now(UTC)
        )

    async def restarting(*_: Any, **__: Any) -> None:
        raise RPCError("the server is restarting", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(review_command, "open_client", client)
    monkeypatch.setattr(review_command.review_operations, "submit_review", accepted)
    monkeypatch.setattr(review_command.waiting, "wait_review_applied", restarting)
    args = build_parser().parse_args(["review", "T-1", "--approve", "--revision", "1"])

    code = await review_command.cmd_review(args)

    said = capsys.readouterr()
    assert code == EXIT_OK
    assert "approve accepted for ticket T-1" in said.out
    assert "warning: the review stands" in said.err


def _receipt(**fields: Any) -> ReviewReceipt:
    at = datetime(2026, 12, 6, 9, 30, 5, tzinfo=UTC)
    return ReviewReceipt(
        ticket_id="T-9", action=ReviewAction.REWORK, revision=3, accepted_at=at, **fields
    )


def test_the_line_names_the_draft_the_ticket_has_now_when_it_moved_on() -> None:
    view = SimpleNamespace(state="AWAITING_REVIEW", draft=SimpleNamespace(revision=6))
    line = review_command.receipt_line(_receipt(), view)  # type: ignore[arg-type]
    assert line == (
        "rework accepted for ticket T-9 (draft revision 3); ticket is now AWAITING_REVIEW "
        "with draft revision 6"
    )


def test_a_repeated_review_is_said_to_be_one() -> None:
    view = SimpleNamespace(state="COMPLETED", draft=SimpleNamespace(revision=3))
    line = review_command.receipt_line(_receipt(repeated=True), view)  # type: ignore[arg-type]
    assert line == (
        "rework of ticket T-9 (draft revision 3) had already been accepted at "
        "2026-12-06 09:30:05 UTC: nothing new was done; ticket is now COMPLETED"
    )
