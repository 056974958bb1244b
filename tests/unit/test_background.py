"""stop_background: a background task is stopped, and a cancellation aimed at the task that stops
it while it waits is kept (contextlib.suppress(CancelledError) around the wait dropped it: an
activity cancelled in that moment went on)."""

import asyncio

import pytest

from shared.background import stop_background


async def test_the_background_task_s_own_cancellation_is_dropped() -> None:
    background = asyncio.create_task(asyncio.sleep(60))
    await stop_background(background)
    assert background.cancelled()


async def test_a_cancellation_of_the_caller_while_it_waits_is_raised() -> None:
    stopping, never = asyncio.Event(), asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await never.wait()
        finally:
            stopping.set()
            await never.wait()  # cleanup still under way when the caller's cancel lands

    async def caller() -> str:
        background = asyncio.create_task(slow_to_stop())
        await asyncio.sleep(0)
        await stop_background(background)
        return "went on as if never cancelled"

    running = asyncio.create_task(caller())
    await stopping.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
