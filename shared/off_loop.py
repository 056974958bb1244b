"""Work too large for the event loop, done in a thread when it is.

temporalio runs the payload codec and the external-storage drivers on the worker's event loop,
and FastAPI parses bodies on the API's: each of those, on megabytes, held every other task (a
127 MiB swarm input: 265-334 ms a step). Small work stays in place, where a thread's hand-off
would cost more than it saves.
"""

import asyncio
from collections.abc import Callable
from typing import Final, TypeVar

# The payloads worth a thread: well past a ticket's, a swarm's or a batch's items are.
LARGE_PAYLOAD_BYTES: Final = 1024 * 1024


T = TypeVar("T")


async def in_thread_if(large: bool, work: Callable[..., T], *args: object) -> T:
    """``work(*args)``, in a thread when ``large``, in place otherwise."""
    return await asyncio.to_thread(work, *args) if large else work(*args)
