"""Work that must not be cut midway by a cancellation, and work bounded in time by leaving it.

``uncut``: a send and the ledger write recording it run to the end when the attempt is cancelled
(the ticket cancelled, the worker shutting down); cut between the two, the answer may have gone
out with nothing saying so.

``within``: cancelling a database call mid-query is not quick: psycopg first sends the server a
cancel request and waits for the connection to settle (up to 5 s each), so on a cut-off network
a "5 s" write took 15 s. Where the caller must answer in time (a delivery attempt saying that
its answer went out before the attempt's own limit), the work is left to finish on its own.
"""

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def uncut(work: Coroutine[Any, Any, T]) -> T:
    """``work``'s outcome, also when the caller is cancelled while it runs: the cancellation
    waits for the work to end and is then absorbed (the caller goes on with the result, or the
    work's error: a caller that must stop when the work failed looks for its own cancellation,
    as the ticket workflow does). Only a cancellation of the work itself (the event loop
    closing) cuts it."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise  # the work itself was cancelled
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            if task.done():  # it ended just as the cancellation came: its outcome stands
                return task.result()


async def within(work: "Coroutine[Any, Any, T] | asyncio.Future[T]", seconds: float) -> T:
    """``work``'s result, or TimeoutError after ``seconds`` at most; the work is then left to
    finish on its own, and whatever it ends with is collected and dropped (also when the
    caller is cancelled while it waits). A task already running may be waited for again."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():
            task.add_done_callback(_collected)
    if task in done:
        return task.result()
    raise TimeoutError(f"no answer within {seconds:g}s")


def _collected(task: "asyncio.Future[Any]") -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so it is not reported as never retrieved
