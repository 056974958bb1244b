"""Tickets this process cannot decrypt (a key retired too early, a CLI without the workers'
ring): `list` and `report` show them as such and exit 3, instead of totals that silently leave
their usage out (`report` printed ~3,935 tokens for 171 calls' worth, and exit 0). The listing
is a fake here; tests/privacy/test_key_rotation.py reads a real undecryptable ticket."""

import argparse
from typing import Any

import pytest

from shared import ticket_listing as listing
from shared.report import build_report
from shared.ticket_summary import TicketSummary
from starter import render, ticket_commands
from starter.errors import EXIT_OK, EXIT_PARTIAL

READABLE = TicketSummary(
    ticket_id="T-1", workflow_status="COMPLETED", subject="Refund", tokens=900, calls=4
)
UNREADABLE = TicketSummary(ticket_id="T-2", workflow_status="COMPLETED", unreadable=True)


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[TicketSummary]:
    """What the fake listing returns to `list` and `report` (no server)."""
    tickets: list[TicketSummary] = []

    async def no_client() -> None:
        return None

    async def read(*_: Any, **__: Any) -> listing.TicketListing:
        return listing.TicketListing(tickets=tickets, more=False)

    async def report(*_: Any, **__: Any) -> listing.ReportTickets:
        return listing.ReportTickets(tickets=tickets, left_out=0)

    monkeypatch.setattr(ticket_commands, "open_client", no_client)
    monkeypatch.setattr(listing, "read_tickets", read)
    monkeypatch.setattr(listing, "report_tickets", report)
    return tickets


@pytest.mark.parametrize("with_unreadable", [False, True])
async def test_list_and_report_say_what_they_could_not_decrypt_and_exit_partial(
    listed: list[TicketSummary], with_unreadable: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    listed.extend([READABLE, UNREADABLE] if with_unreadable else [READABLE])

    listed_code = await ticket_commands.cmd_list(
        argparse.Namespace(state=None, limit=50, json=False)
    )
    reported_code = await ticket_commands.cmd_report(argparse.Namespace(since=None, json=False))

    out = capsys.readouterr()
    expected = EXIT_PARTIAL if with_unreadable else EXIT_OK
    assert (listed_code, reported_code) == (expected, expected)
    note = "1 ticket(s) could not be decrypted here (a key missing from this process's key ring,"
    assert (note in out.err and note in out.out) is with_unreadable  # list: stderr; report: out
    assert ("T-2" in out.out and render.UNREADABLE_SUBJECT in out.out) is with_unreadable
    assert "usage        4 agent call(s), 900 tokens" in out.out


def test_a_report_counts_the_unreadable_ones_beside_its_totals() -> None:
    report = build_report([READABLE, UNREADABLE, UNREADABLE])

    assert (report.total, report.unreadable, report.tokens) == (3, 2, 900)
    assert build_report([READABLE]).unreadable == 0
