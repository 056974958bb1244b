"""The report a test near its time limit writes: the awaits an async test hangs in, which the
threads' stacks alone do not show (tests/support/hang_report.py)."""

import asyncio
import tempfile

from tests.support.hang_report import _report


async def test_the_report_names_every_await_down_to_the_one_that_hangs() -> None:
    async def waits_for_a_reply(never: asyncio.Event) -> None:
        await never.wait()

    async def handles_a_ticket(never: asyncio.Event) -> None:
        await waits_for_a_reply(never)

    never = asyncio.Event()
    task = asyncio.create_task(handles_a_ticket(never), name="the-stuck-one")
    await asyncio.sleep(0)  # the task runs until its first await
    # A file, not a pipe: a report past a pipe's 64 KiB buffer (many threads or tasks in this
    # process) would block its writer with nobody reading yet.
    with tempfile.TemporaryFile() as report:
        try:  # from a thread, as the timer writes it
            await asyncio.to_thread(_report, "tests/x.py::test_y", 30.0, report.fileno())
        finally:
            task.cancel()
        report.seek(0)
        said = report.read().decode()

    assert "tests/x.py::test_y is near its 30 s limit" in said
    stuck = next(line for line in said.splitlines() if line.startswith("task the-stuck-one:"))
    assert "handles_a_ticket (test_hang_report.py:" in stuck
    assert "-> waits_for_a_reply (test_hang_report.py:" in stuck
    assert "-> wait (locks.py:" in stuck
    assert "Current thread" in said  # the threads' stacks too
