"""``uncut`` (activities/delivery/bounded.py): work a cancellation must not cut midway (a send
and the ledger write recording it) runs to its end, and its outcome stands."""

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from activities.delivery.bounded import uncut


def held_work() -> tuple[asyncio.Event, Coroutine[Any, Any, int]]:
    """Work that ends with 7 once the event is set."""
    release = asyncio.Event()

    async def work() -> int:
        await release.wait()
        return 7

    return release, work()


async def test_a_cancellation_while_the_work_runs_waits_for_it_and_keeps_its_result() -> None:
    release, work = held_work()
    caller = asyncio.create_task(uncut(work))
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.sleep(0)
    assert not caller.done()
    release.set()
    assert await caller == 7


async def test_a_result_that_comes_with_the_cancellation_stands() -> None:
    """The work ended in the same turn of the event loop as the caller's cancellation: its
    result (a send recorded in the ledger) is not dropped for a cancellation."""
    release, work = held_work()
    caller = asyncio.create_task(uncut(work))
    await asyncio.sleep(0)
    release.set()  # the work wakes first, and ends
    caller.cancel()  # the caller's wake-up, with the cancellation, comes after it
    assert await caller == 7


async def test_the_work_error_after_a_cancellation_reaches_the_caller() -> None:
    release = asyncio.Event()

    async def work() -> int:
        await release.wait()
        raise RuntimeError("the connection was reset")

    caller = asyncio.create_task(uncut(work()))
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError, match="reset"):
        await caller


async def test_a_cancellation_of_the_work_itself_cuts_it() -> None:
    started = asyncio.Event()

    async def work() -> int:
        started.set()
        await asyncio.Event().wait()
        return 7

    inner = asyncio.ensure_future(work())
    caller = asyncio.create_task(uncut(inner))  # type: ignore[arg-type]
    await started.wait()
    inner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
