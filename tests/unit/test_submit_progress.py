"""A large submission says how far it has got while it starts its tickets, on a terminal: a
file of 100,000 against a remote server was minutes of silence (a review, 2026-12-07); and so
does `redrive --yes` working through its plan."""

import asyncio
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import operations as ops
from starter import progress as progress_module
from starter.progress import Progress
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket


class TerminalFake(io.StringIO):
    """stderr as a terminal."""

    def isatty(self) -> bool:
        return True


async def test_a_large_submission_on_a_terminal_says_how_far_it_has_got(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_module, "PROGRESS_EVERY_SECONDS", 0.01)
    terminal = TerminalFake()
    async with Progress(250, "started", terminal) as progress:
        for _ in range(10):
            progress.one_done()
        await wait_until(lambda: terminal.getvalue(), what="a progress line")
    assert terminal.getvalue().splitlines()[0] == "started 10 of 250 ticket(s) ..."


@pytest.mark.parametrize(("total", "stream"), [(250, io.StringIO()), (10, TerminalFake())])
async def test_a_script_s_output_or_a_small_submission_gets_no_progress_line(
    monkeypatch: pytest.MonkeyPatch, total: int, stream: io.StringIO
) -> None:
    monkeypatch.setattr(progress_module, "PROGRESS_EVERY_SECONDS", 0.01)
    async with Progress(total, "started", stream):
        await asyncio.sleep(0.05)
    assert stream.getvalue() == ""


async def test_each_start_tried_is_counted_failed_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    async def start_fake(client: Any, ticket: Any, keyed: bool = False) -> Any:
        if ticket.ticket_id.endswith("3"):
            raise ops.OperationError("refused")
        return ops.SubmitOutcome(ticket_id=ticket.ticket_id, workflow_id="w", started=True)

    monkeypatch.setattr(ops, "start_ticket", start_fake)
    counted: list[int] = []
    tickets = [make_ticket(ticket_id=f"T-{n}") for n in range(5)]

    results = await ops.submit_each(None, tickets, on_done=lambda: counted.append(1))  # type: ignore[arg-type]

    assert len(counted) == 5 and len(results) == 5


async def test_a_redrive_counts_each_ticket_it_works_through_whatever_became_of_it() -> None:
    from starter.redrive import apply
    from starter.redrive_plans import RedriveItem, RedriveReport

    items = [
        RedriveItem(
            ticket_id=f"T-{n}", workflow_id=f"ticket-T-{n}", run_id="r", action="skip", why=""
        )
        for n in range(3)
    ]
    since = datetime(2026, 12, 7, tzinfo=UTC)
    report = RedriveReport(state="FAILED", since=since, applied=False, tickets=items)
    counted: list[int] = []

    await apply(None, None, report, on_done=lambda: counted.append(1))  # type: ignore[arg-type]

    assert len(counted) == 3 and report.applied
