"""One ticket redrive cannot read (its input under a key missing from the ring, or deleted
between the listing and its describe) is skipped with the reason; the others are planned. It
ended the whole command with exit 1 and nothing redriven."""

import argparse
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from policy.transitions import TicketState
from shared.encryption.codec import UnknownEncryptionKey
from shared.stores.factory import Stores
from starter import redrive
from starter.errors import CliError


class ListingFake:
    """A fake client listing three failed tickets."""

    def list_workflows(self, query: str, limit: int) -> AsyncIterator[Any]:
        async def listed() -> AsyncIterator[Any]:
            for n in (1, 2, 3):
                yield SimpleNamespace(id=f"ticket-T-{n}", run_id=f"run-{n}", task_queue="tickets")

        return listed()


async def plan_listed(limit: int) -> redrive.RedriveReport:
    """The plan for FAILED tickets of the last hour, the three ListingFake lists."""
    return await redrive.plan(
        ListingFake(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        TicketState.FAILED,
        timedelta(hours=1),
        limit,
    )


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

    report = await plan_listed(limit=10)

    planned = {t.ticket_id: (t.action, t.why) for t in report.tickets}
    assert planned["T-1"] == ("skip", "could not be read here (UnknownEncryptionKey): not redriven")
    assert planned["T-2"][0] == "skip" and "workflow not found" in planned["T-2"][1]
    assert planned["T-3"] == ("restart", "nothing was delivered")


class StoresFake(Stores):
    """Stands for the stores a redrive opens: only closed here."""

    def __init__(self) -> None:
        self.ledger = None  # type: ignore[assignment]
        self.database = None

    async def close(self) -> None:
        pass


def redrive_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, listing: Any, plan_one: Any
) -> argparse.Namespace:
    """`redrive --state FAILED --since 1h --limit 2` (a dry run) on ``listing``'s runs, each
    planned by ``plan_one``, with a ledger where the workers' would be."""

    async def client() -> Any:
        return listing

    monkeypatch.setattr(redrive, "_plan_one", plan_one)
    monkeypatch.setattr(redrive, "open_client", client)
    monkeypatch.setattr(redrive, "build_stores", lambda config, **_: StoresFake())
    # Where the workers' ledger is (redrive refuses to plan without one).
    monkeypatch.setenv("TICKETS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TICKETS_DATABASE_URL", raising=False)
    (tmp_path / "outbox.sqlite3").touch()
    return argparse.Namespace(
        limit=2,
        arrived=[],
        not_arrived=[],
        state=TicketState.FAILED,
        since=timedelta(hours=1),
        yes=False,
        json=False,
    )


async def test_a_redrive_that_left_tickets_unread_does_not_exit_with_success(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Exit 0 with FAILED tickets left as they were: a script read success.
    async def plan_one(client: Any, ledger: Any, state: Any, item: Any, checked: Any) -> Any:
        if item.ticket_id == "T-2":
            raise RPCError("deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")
        item.action, item.why = "restart", "nothing was delivered"
        return item

    args = redrive_command(monkeypatch, tmp_path, ListingFake(), plan_one)

    with pytest.raises(CliError) as failed:
        await redrive.run_redrive(args)

    assert (
        str(failed.value) == "1 ticket(s) could not be read, so were left as they are (see above)"
    )
    # Three runs in the window, the limit two: the third waits, and the report says so.
    assert "The listing stopped at --limit tickets" in capsys.readouterr().out


async def test_a_listing_under_the_limit_says_nothing_of_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def plan_one(client: Any, ledger: Any, state: Any, item: Any, checked: Any) -> Any:
        return item

    monkeypatch.setattr(redrive, "_plan_one", plan_one)
    report = await plan_listed(limit=3)  # exactly as many runs as the limit
    assert not report.more_past_limit
    assert not any(t.unreadable for t in report.tickets)


class LongListingFake:
    """A fake client listing, newest first, three runs of tickets redriven before and then
    three failed tickets never redriven."""

    def list_workflows(self, query: str, limit: int) -> AsyncIterator[Any]:
        async def listed() -> AsyncIterator[Any]:
            for n in range(1, 7)[:limit]:
                yield SimpleNamespace(id=f"ticket-T-{n}", run_id=f"run-{n}", task_queue="tickets")

        return listed()


async def test_runs_of_tickets_redriven_before_do_not_use_up_the_limit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A review (2026-12-07): they counted against --limit, so a second redrive with the same
    # --limit looked at the same newest runs, skipped them all as redriven before, redrove
    # nothing and exited 0, every older ticket out of its reach.
    async def plan_one(client: Any, ledger: Any, state: Any, item: Any, checked: Any) -> Any:
        if item.ticket_id in ("T-1", "T-2", "T-3"):
            item.why = "redriven before: a newer run run-9 is RUNNING"
        else:
            item.action, item.why = "restart", "nothing was delivered"
        return item

    args = redrive_command(monkeypatch, tmp_path, LongListingFake(), plan_one)

    code = await redrive.run_redrive(args)

    out = capsys.readouterr().out
    assert "T-4  restart" in out and "T-5  restart" in out and "T-6" not in out
    assert "The listing stopped at --limit tickets" in out
    assert code == 3  # tickets of the window not looked at: not done


async def test_the_same_redrive_run_again_reaches_every_ticket_of_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A review of the fix above (2026-12-07): with the listing capped at ten times --limit
    # runs, the runs of tickets redriven before filled it after ten repeats, and the command
    # redrove nothing more, exiting 3 each time. 30 tickets, --limit 2: every one is reached.
    redriven: set[str] = set()

    class WindowFake:
        def list_workflows(self, query: str, limit: int) -> AsyncIterator[Any]:
            async def listed() -> AsyncIterator[Any]:
                for n in range(1, 31)[:limit]:  # newest first: the old runs stay listed
                    yield SimpleNamespace(id=f"ticket-T-{n}", run_id=f"run-{n}", task_queue="q")

            return listed()

    async def plan_one(client: Any, ledger: Any, state: Any, item: Any, checked: Any) -> Any:
        if item.ticket_id in redriven:
            item.why = "redriven before: a newer run run-9 is RUNNING"
        else:
            item.action, item.why = "restart", "nothing was delivered"
        return item

    monkeypatch.setattr(redrive, "_plan_one", plan_one)
    runs = 0
    while True:
        runs += 1
        report = await redrive.plan(
            WindowFake(),  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            TicketState.FAILED,
            timedelta(hours=1),
            2,
        )
        redriven |= {t.ticket_id for t in report.of("restart")}
        if not report.more_past_limit or runs > 20:
            break

    assert redriven == {f"T-{n}" for n in range(1, 31)}
    assert runs == 15  # two a run; the fifteenth lists nothing after its two
