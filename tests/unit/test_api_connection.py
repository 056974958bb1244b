"""The API's Temporal connection (api/temporal.py): requests that arrive together before the
first connection share one client."""

import asyncio
from typing import cast

from temporalio.client import Client

from api.temporal import TemporalConnection
from shared.temporal_client import connection_settings


async def test_requests_arriving_together_open_one_connection() -> None:
    opened: list[object] = []
    go = asyncio.Event()

    async def slow_connect() -> Client:
        await go.wait()  # every request is waiting on the first connection by now
        opened.append(object())
        return cast(Client, opened[-1])

    connection = TemporalConnection(connection_settings({}), factory=slow_connect)
    waiting = [asyncio.create_task(connection.client()) for _ in range(5)]
    await asyncio.sleep(0)  # let them all ask
    go.set()
    clients = await asyncio.gather(*waiting)

    assert len(opened) == 1 and all(c is opened[0] for c in clients)
