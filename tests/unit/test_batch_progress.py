"""What `batch --wait` counts as failed (exit 3): the pipeline's failures, a restart that failed,
and a ticket whose workflow the batch's check found timed out or gone. Those two were shown
only among the states at rest, and the exit code said every ticket was answered."""

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest

from shared.batch import ID_CONFLICT, INVALID, RESTART_FAILED, BatchProgress
from starter import fanout, fanout_watch
from starter.errors import EXIT_PARTIAL, NoWorker
from starter.render_fanout import print_batch
from tests.support.ticket_lines import good, jsonl


def progress(**settled: int) -> BatchProgress:
    return BatchProgress(
        total=sum(settled.values()), started=0, already_known=0, in_flight=0, settled=settled
    )


def test_timed_out_and_gone_tickets_count_as_failed_and_decisions_do_not() -> None:
    assert progress(COMPLETED=5, TIMED_OUT=1, NOT_FOUND=2).failed == 3
    assert progress(FAILED=1, DELIVERY_FAILED=1, **{RESTART_FAILED: 1}).failed == 3
    # An operator's terminate or cancel, a rejection, a ticket waiting for a person: decided.
    assert progress(TERMINATED=1, CANCELLED=1, REJECTED=1, AWAITING_REVIEW=1).failed == 0


async def test_tickets_the_batch_refused_as_invalid_exit_3_and_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The batch's own check refused them (a client and workers of other versions): counted
    under INVALID at rest, but `batch --wait` exited 0 and printed none of the reasons."""
    source = tmp_path / "tickets.jsonl"
    source.write_bytes(jsonl(good("T-1"), good("T-2")))
    done = BatchProgress(
        total=2,
        started=1,
        already_known=0,
        in_flight=0,
        settled={"COMPLETED": 1, INVALID: 1},
        invalid=["ticket 2: field 'tier' must be one of free, standard (got 'gold')"],
    )

    async def nothing(*_: Any, **__: Any) -> Any:
        return None

    async def no_ids_held(*_: Any) -> set[str]:
        return set()

    async def ran(*_: Any) -> tuple[str, BatchProgress, bool]:
        return "batch-1", done, False

    for name, fake in {
        "open_client": nothing,
        "warn_if_unencrypted": nothing,
        "require_worker": nothing,
        "ids_held_by_other_tickets": no_ids_held,
        "run_batch": ran,
    }.items():
        monkeypatch.setattr(fanout, name, fake)
    args = argparse.Namespace(
        file=str(source), window=20, tickets_per_run=100, id=None, wait=True, json=False
    )

    assert await fanout.cmd_batch(args) == EXIT_PARTIAL
    said = capsys.readouterr()
    assert "field 'tier' must be one of" in said.out
    assert "1 ticket(s) of the batch were refused as invalid and never started" in said.err


def test_a_ticket_another_took_the_id_of_counts_as_failed_and_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = progress(COMPLETED=3, **{ID_CONFLICT: 1}).model_copy(update={"conflicts": ["T-9"]})
    assert shown.failed == 1
    print_batch("batch-1", shown)
    said = " ".join(capsys.readouterr().out.split())
    assert "conflict T-9: another ticket took this id while the batch ran" in said
    assert "NOT processed" in said


async def test_waiting_for_a_run_ends_naming_the_missing_worker_once_it_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker was checked only before the start: killed after it, `batch --wait` (and
    # `plan --wait`, `swarm`) waited for ever, printing nothing more.
    monkeypatch.setattr(fanout_watch, "WORKER_CHECK_SECONDS", 0.05)
    monkeypatch.setattr(fanout_watch, "POLL_SECONDS", 0.01)
    result_cancelled = asyncio.Event()
    checks: list[int] = []

    class RunThatNeverEnds:
        async def result(self) -> BatchProgress:
            try:
                await asyncio.Event().wait()
            finally:
                result_cancelled.set()
            raise AssertionError("unreachable")

    async def describe() -> tuple[int, int, str]:
        return 0, 10, "10 in flight"

    async def worker_gone() -> None:
        checks.append(1)
        if len(checks) > 1:  # there at the first check, gone at the second
            raise NoWorker("no worker is polling the tickets task queue")

    with pytest.raises(NoWorker, match="no worker is polling"):
        await asyncio.wait_for(
            fanout_watch.watched(
                RunThatNeverEnds(),  # type: ignore[arg-type]
                describe,
                "tickets",
                "the batch batch-1",
                check_worker=worker_gone,
            ),
            timeout=10,
        )
    await asyncio.wait_for(result_cancelled.wait(), timeout=5)
    assert len(checks) == 2
