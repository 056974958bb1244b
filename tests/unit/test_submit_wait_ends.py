"""`submit --wait` when its time is up: a stopped ticket whose view could not be read still
fails the command (it exited 0, the ticket in neither list), and the last look at the tickets
still pending is bounded (all of them, a query each, took an hour and more for 10,000 tickets
whose worker was gone)."""

import asyncio
import json
import time
from types import SimpleNamespace
from typing import Any

import pytest

import shared.waiting as waiting
import starter.submit_command as submit_command
from policy.transitions import TicketState
from shared import names
from shared.operation_errors import NoWorker
from shared.operations import SubmitOutcome
from shared.ticket_status import TicketReading
from shared.view import TicketView
from starter.cli import build_parser


async def test_a_ticket_stopped_whose_view_was_not_read_fails_the_wait(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def client() -> object:
        return SimpleNamespace()

    async def nothing(*_: Any, **__: Any) -> None:
        return None

    async def submitted(
        _: object, tickets: list[Any], keyed: bool = False, on_done: Any = None
    ) -> list[SubmitOutcome]:
        return [
            SubmitOutcome(
                ticket_id=t.ticket_id,
                workflow_id=names.ticket_workflow_id(t.ticket_id),
                started=True,
            )
            for t in tickets
        ]

    async def no_views(*_: Any, **__: Any) -> dict[str, Any]:
        return {}  # its status query timed out, every time

    async def stopped(_: object, ids: list[str]) -> dict[str, str]:
        return {i: "TERMINATED" for i in ids}

    monkeypatch.setattr(submit_command, "open_client", client)
    monkeypatch.setattr(submit_command, "warn_if_unencrypted", nothing)
    monkeypatch.setattr(submit_command.ops, "submit_each", submitted)
    monkeypatch.setattr(submit_command.waiting, "wait_settled", no_views)
    monkeypatch.setattr(submit_command, "_stopped", stopped)
    args = build_parser().parse_args(
        [
            "submit",
            "--subject",
            "Refund",
            "--body",
            "Please refund me",
            "--id",
            "T-1",
            "--wait",
            "--json",
        ]
    )

    code = await submit_command.cmd_submit(args)

    said = json.loads(capsys.readouterr().out)
    assert said["failed"] == ["T-1"] and said["stopped"] == {"T-1": "TERMINATED"}
    assert code != 0


async def test_the_last_look_when_time_is_up_reads_a_bounded_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[str] = []

    async def none_rest(*_: Any) -> dict[str, set[str]]:
        return {}

    async def worker_gone(_: object, ticket_id: str, calls: bool) -> None:
        reads.append(ticket_id)
        await asyncio.sleep(0.05)  # each query waits (its 10 s timeout, scaled down)
        raise NoWorker("no worker answered")

    monkeypatch.setattr(waiting, "settled_among", none_rest)
    monkeypatch.setattr(waiting, "read_ticket", worker_gone)
    monkeypatch.setattr(waiting, "LAST_LOOK_SECONDS", 0.2, raising=False)
    ids = [f"T-{n}" for n in range(2_000)]

    views = await waiting.wait_settled(SimpleNamespace(), ids, timeout=0.0)  # type: ignore[arg-type]

    assert views == {}
    # 0.2 s of 16 at a time, 0.05 s each: a chunk or two of 64, not all 2,000.
    assert 0 < len(reads) <= 128


async def test_tickets_at_rest_whose_reads_hang_end_the_wait_about_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker just gone is still listed as polling for a while: each status query waits out
    # its timeout, 16 at a time, and all of those at rest were read before the deadline was
    # looked at (150 tickets held `submit --wait --timeout 5` for 102 s).
    async def all_rest(_: object, ticket_ids: list[str]) -> dict[str, set[str]]:
        return {t: {"run"} for t in ticket_ids}

    async def worker_gone(_: object, ticket_id: str, calls: bool) -> None:
        await asyncio.sleep(0.5)  # its 10 s timeout, scaled down
        raise NoWorker("no worker answered")

    monkeypatch.setattr(waiting, "settled_among", all_rest)
    monkeypatch.setattr(waiting, "read_ticket", worker_gone)
    monkeypatch.setattr(waiting, "LAST_LOOK_SECONDS", 0.2, raising=False)
    ids = [f"T-{n}" for n in range(160)]  # ten rounds of 16: 5 s

    began = time.monotonic()
    views = await waiting.wait_settled(SimpleNamespace(), ids, timeout=0.5, interval=0.1)  # type: ignore[arg-type]
    took = time.monotonic() - began

    assert views == {}
    assert took < 2.0  # the timeout, a last look and a read's slack; not 5 s


async def test_reads_done_by_the_deadline_are_kept_when_others_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The reads of tickets at rest stop at the wait's deadline: those already done were thrown
    # away with the rest (a loaded worker answering in 2 s, `--timeout 5`: tickets at rest,
    # a failed one among them, reported "still in progress").
    async def all_rest(_: object, ticket_ids: list[str]) -> dict[str, set[str]]:
        return {t: {"run"} for t in ticket_ids}

    async def slow_worker(_: object, ticket_id: str, calls: bool) -> TicketReading:
        await asyncio.sleep(0.2)
        view = TicketView(ticket_id=ticket_id, subject="s", state=TicketState.AWAITING_REVIEW)
        return TicketReading(view=view, workflow_status="RUNNING", run_id="run")

    monkeypatch.setattr(waiting, "settled_among", all_rest)
    monkeypatch.setattr(waiting, "read_ticket", slow_worker)
    monkeypatch.setattr(waiting, "LAST_LOOK_SECONDS", 0.0, raising=False)
    ids = [f"T-{n}" for n in range(150)]

    views = await waiting.wait_settled(SimpleNamespace(), ids, timeout=0.5, interval=0.1)  # type: ignore[arg-type]

    # 16 at a time, 0.2 s each: two or three rounds done by the deadline, all of them kept.
    assert 32 <= len(views) < 150
    assert all(v.state is TicketState.AWAITING_REVIEW for v in views.values())
