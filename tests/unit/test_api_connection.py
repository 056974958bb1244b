"""The API's Temporal connection (api/temporal.py): requests that arrive together before the
first connection share one client."""

import asyncio
from typing import cast

import pytest
from temporalio.client import Client

from api.temporal import TemporalConnection
from shared.operation_errors import ServerUnreachable
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


async def test_requests_waiting_on_a_failing_connection_share_its_failure_and_then_retry() -> None:
    """With Temporal down, each waiter once tried again after the one before it failed: the
    tenth request (a readiness probe, say) waited ten connection timeouts."""
    tries: list[int] = []
    go = asyncio.Event()

    async def refused() -> Client:
        tries.append(1)
        await go.wait()
        raise RuntimeError("connection refused")

    connection = TemporalConnection(connection_settings({}), factory=refused)
    waiting = [asyncio.create_task(connection.client()) for _ in range(5)]
    await asyncio.sleep(0)  # let them all ask
    go.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)

    assert len(tries) == 1
    assert all(isinstance(o, ServerUnreachable) for o in outcomes)
    assert "connection refused" in str(outcomes[0])
    with pytest.raises(ServerUnreachable):
        await connection.client()  # a later request tries again
    assert len(tries) == 2


def test_the_connection_settings_repr_leaves_out_the_api_key() -> None:
    # The repr printed connect_kwargs={'api_key': ...}: one log line of the settings away.
    settings = connection_settings({"TEMPORAL_ADDRESS": "x:7233", "TEMPORAL_API_KEY": "tka_s3cret"})
    assert settings.has_api_key and settings.connect_kwargs.get("api_key") == "tka_s3cret"
    assert "tka_s3cret" not in repr(settings) and "tka_s3cret" not in settings.describe()


def test_an_api_key_without_tls_is_refused_beyond_this_machine() -> None:
    # A review (2026-12-07): TEMPORAL_TLS=false beside an API key sent the key in clear text to
    # a remote server, with nothing said.
    from shared.temporal_client import ClientConfigError

    remote = {"TEMPORAL_ADDRESS": "temporal.example.com:7233", "TEMPORAL_API_KEY": "sekrit-key"}
    with pytest.raises(ClientConfigError) as refused:
        connection_settings(remote | {"TEMPORAL_TLS": "false"})
    assert "TLS off for temporal.example.com:7233" in str(refused.value)
    assert "sekrit-key" not in str(refused.value)
    assert connection_settings(remote).tls  # on by default with a key
    # This machine's server: nothing crosses a network.
    local = connection_settings(
        remote | {"TEMPORAL_TLS": "false", "TEMPORAL_ADDRESS": "[::1]:7233"}
    )
    assert not local.tls and local.has_api_key
