"""Stopping a background task without losing a cancellation meant for the task that stops it."""

import asyncio


async def stop_background(task: asyncio.Task[object]) -> None:
    """Cancel ``task`` and wait for it to end. Its own CancelledError is expected and dropped;
    one aimed at the caller while it waits (an activity cancelled at that moment) is raised:
    ``contextlib.suppress(CancelledError)`` around the wait swallowed both, and the caller
    went on as if never cancelled."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
