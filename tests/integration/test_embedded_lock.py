"""One embedded server per database file: a second one on the same data folder is refused by
name (two took each other's shards), and the lock goes with the server process, not with the
client that started it."""

import asyncio
import socket
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


def test_a_port_held_by_another_program_is_named_first_with_this_starts_lines_only(
    tmp_path: Path,
) -> None:
    (tmp_path / "temporal-server.log").write_text("an earlier start's line: not this one\n")
    with socket.socket() as holder:  # another program on the server's port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = EmbeddedServer(tmp_path, "127.0.0.1", port, ui=False)
        with pytest.raises(CliError) as failed:
            asyncio.run(server.start())
    said = str(failed.value)
    assert said.startswith(f"127.0.0.1:{port} is in use by another program: stop it, or give")
    assert "TEMPORAL_ADDRESS" in said
    assert "address already in use" in said  # the server's own line, from the log's tail
    assert "an earlier start's line" not in said
