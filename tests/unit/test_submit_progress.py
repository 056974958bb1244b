"""A large submission says how far it has got while it starts its tickets, on a terminal: a
file of 100,000 against a remote server was minutes of silence (a review, 2026-12-07)."""

import asyncio
import io
from typing import Any

import pytest

from shared import operations as ops
from starter import submit_command
from starter.submit_command import StartProgress
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket


class TerminalFake(io.StringIO):
    """stderr as a terminal."""

    def isatty(self) -> bool:
        return True


async def test_a_large_submission_on_a_terminal_says_how_far_it_has_got(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(submit_command, "PROGRESS_EVERY_SECONDS", 0.01)
    terminal = TerminalFake()
    async with StartProgress(250, terminal) as progress:
        for _ in range(10):
            progress.one_done()
        await wait_until(lambda: terminal.getvalue(), what="a progress line")
    assert terminal.getvalue().splitlines()[0] == "started 10 of 250 ticket(s) ..."


@pytest.mark.parametrize(("total", "stream"), [(250, io.StringIO()), (10, TerminalFake())])
async def test_a_script_s_output_or_a_small_submission_gets_no_progress_line(
    monkeypatch: pytest.MonkeyPatch, total: int, stream: io.StringIO
) -> None:
    monkeypatch.setattr(submit_command, "PROGRESS_EVERY_SECONDS", 0.01)
    async with StartProgress(total, stream):
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
