"""`batch --wait`, `plan --wait` and `swarm` give up at their --timeout (exit 3), the run left
going on: a batch whose ticket sat in DELIVERING (retrying for hours) held `batch --wait` for
as long, with no way to bound it (a review, 2026-12-07)."""

import asyncio
from typing import Any

import pytest

from starter import cli
from starter.errors import WaitGaveUp, explain
from starter.fanout_watch import watched


class RunningHandleFake:
    """A workflow handle whose run never ends."""

    id = "batch-abc"

    def __init__(self) -> None:
        self.cancelled = False

    async def result(self) -> Any:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_a_wait_with_a_timeout_gives_up_with_exit_3_and_leaves_the_run() -> None:
    handle = RunningHandleFake()

    async def describe() -> tuple[int, int, str]:
        return 3, 10, "7 in flight"

    with pytest.raises(WaitGaveUp) as gave_up:
        await watched(handle, describe, "tickets", "the batch batch-abc", timeout=0.3)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the result's poll, cancelled, ends

    message, code = explain(gave_up.value)
    assert code == 3
    assert message == (
        "the batch batch-abc is still running after 0.3s (--timeout): it goes on on the "
        "server; the same command with --id batch-abc follows it again"
    )
    assert handle.cancelled  # only the wait for its result, not the run


@pytest.mark.parametrize("command", [["batch", "tickets.jsonl"], ["plan", "a task"]])
def test_a_timeout_without_wait_is_refused(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*command, "--timeout", "60"]) == 2
    assert "--timeout bounds --wait: give both, or neither" in capsys.readouterr().err


async def test_a_run_that_ended_before_the_timeout_is_its_result_not_still_running() -> None:
    # A review (2026-12-07): the timeout could fire in the last progress query after the run
    # had ended (a closed run's query waits for a worker), and a finished batch read as
    # "still running", exit 3.
    class EndedHandleFake:
        id = "batch-done"

        async def result(self) -> str:
            return "the batch's progress"

    async def slow_describe() -> tuple[int, int, str]:
        await asyncio.sleep(5)  # the query a closed run answers slowly
        return 10, 10, ""

    got = await watched(EndedHandleFake(), slow_describe, "tickets", "the batch", timeout=0.3)  # type: ignore[arg-type]
    assert got == "the batch's progress"
