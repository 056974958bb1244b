"""One embedded server per database file: a second one on the same data folder is refused by
name (two took each other's shards), and the lock goes with the server process, not with the
client that started it."""

import asyncio
from pathlib import Path

import pytest

from starter.embedded import EmbeddedServer
from starter.errors import CliError
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


def test_a_second_server_on_the_same_database_is_refused_until_the_first_stops(
    tmp_path: Path,
) -> None:
    first = EmbeddedServer(tmp_path, "127.0.0.1", free_port(), ui=False)
    second = EmbeddedServer(tmp_path, "127.0.0.1", free_port(), ui=False)
    asyncio.run(first.start())
    try:
        with pytest.raises(CliError) as refused:
            asyncio.run(second.start())
        assert str(refused.value).startswith(
            f"another embedded Temporal server runs on {tmp_path / 'temporal.sqlite'} (at "
            f"{first.address}, pid {first.pid}): point TEMPORAL_ADDRESS at it"
        )
        assert second.pid is None  # nothing started
    finally:
        asyncio.run(first.stop())
    asyncio.run(second.start())  # the first one's exit freed it
    asyncio.run(second.stop())
