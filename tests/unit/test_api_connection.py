"""The API's Temporal connection (api/temporal.py): requests that arrive together before the
first connection share one client."""

import asyncio
import os
from pathlib import Path
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


@pytest.mark.parametrize("scheme", ["http://", "grpc://"])
def test_an_address_given_as_a_url_is_refused_by_name(scheme: str) -> None:
    # A review (2026-12-08): the SDK connected to http://host:port as given, in clear text,
    # with the API key as a bearer token, while the worker said "TLS, API key".
    from shared.temporal_client import ClientConfigError

    settings = {"TEMPORAL_ADDRESS": f"{scheme}temporal.example.com:7233"}
    for extra in ({}, {"TEMPORAL_API_KEY": "sekrit-key", "TEMPORAL_TLS": "true"}):
        with pytest.raises(ClientConfigError) as refused:
            connection_settings(settings | extra)
        assert "is a URL: give host:port" in str(refused.value)
        assert "sekrit-key" not in str(refused.value)


def test_an_https_address_is_host_and_port_with_tls_and_refused_without() -> None:
    # The SDK took https:// over TLS (with a deprecation warning): a deployment that gave it
    # must not stop at the upgrade; without TLS it failed to connect, now it is said.
    from shared.temporal_client import ClientConfigError

    given = {"TEMPORAL_ADDRESS": "https://ns.acct.tmprl.cloud:7233/", "TEMPORAL_API_KEY": "k"}
    settings = connection_settings(given)
    assert (settings.address, settings.tls) == ("ns.acct.tmprl.cloud:7233", True)
    with pytest.raises(ClientConfigError, match="is a URL"):
        connection_settings(given | {"TEMPORAL_TLS": "false", "TEMPORAL_ADDRESS": "https://h:7233"})


def test_an_authorization_header_without_tls_is_refused_beyond_this_machine() -> None:
    from shared.temporal_client import ClientConfigError

    remote = {
        "TEMPORAL_ADDRESS": "temporal.example.com:7233",
        "TEMPORAL_GRPC_META_AUTHORIZATION": "Bearer sekrit-key",
    }
    with pytest.raises(ClientConfigError) as refused:
        connection_settings(remote)
    assert "authorization header" in str(refused.value)
    assert "sekrit-key" not in str(refused.value)
    assert connection_settings(remote | {"TEMPORAL_TLS": "true"}).tls
    assert not connection_settings(remote | {"TEMPORAL_ADDRESS": "127.0.0.1:7233"}).tls


@pytest.mark.parametrize(
    ("said", "tls"),
    [("off", False), ("No", False), (" false ", False), ("0", False), ("disabled", False),
     ("on", True), ("yes", True), ("1", True)],
)  # fmt: skip
def test_tls_is_read_as_people_write_it(said: str, tls: bool) -> None:
    settings = connection_settings({"TEMPORAL_ADDRESS": "127.0.0.1:7233", "TEMPORAL_TLS": said})
    assert settings.tls is tls


def test_a_tls_word_that_says_neither_is_refused_by_name() -> None:
    from shared.temporal_client import ClientConfigError

    with pytest.raises(ClientConfigError) as refused:
        connection_settings({"TEMPORAL_ADDRESS": "127.0.0.1:7233", "TEMPORAL_TLS": "maybe"})
    assert "TEMPORAL_TLS is 'maybe': give true or false" in str(refused.value)


@pytest.mark.parametrize(
    "name",
    ["TEMPORAL_CONFIG_FILE", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_PATH"],
)
def test_a_connection_file_that_is_no_file_or_too_large_is_refused_before_it_is_read(
    name: str, tmp_path: Path
) -> None:
    # /dev/zero ran the worker out of memory; a FIFO held --check-config for ever.
    from shared.temporal_client import MAX_CONNECTION_FILE_BYTES, ClientConfigError

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    large = tmp_path / "large.pem"
    large.write_bytes(b"x" * (MAX_CONNECTION_FILE_BYTES + 1))
    for named, said in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"),
                        (large, "a certificate or profile file is kilobytes")):  # fmt: skip
        with pytest.raises(ClientConfigError) as refused:
            connection_settings({"TEMPORAL_ADDRESS": "127.0.0.1:7233", name: str(named)})
        assert name in str(refused.value) and said in str(refused.value)
