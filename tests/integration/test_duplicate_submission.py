"""A ticket submitted again while its first run holds the id sends the server no start: a start
the server refuses as a duplicate still writes that run's history (the ticket's input) into its
database and leaves it there, where erasure cannot reach it (docs/privacy.md). Counted in the
embedded server's own SQLite file."""

import sqlite3
from pathlib import Path

import pytest
from temporalio.client import Client

from shared import operations as ops
from shared.data_converter import data_converter
from starter.embedded import EmbeddedServer
from tests.support.processes import free_port
from tests.support.tickets import make_ticket

pytestmark = pytest.mark.integration

# In the ticket's input as the converter writes it with no key ring (plain JSON).
MARKER = "parcel-7Q-DUPLICATE-4471"


def histories_holding(db: Path, needle: str) -> int:
    """The server's history trees whose events hold ``needle``."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (n,) = conn.execute(
            "SELECT count(DISTINCT tree_id) FROM history_node WHERE instr(data, ?) > 0",
            (needle.encode(),),
        ).fetchone()
    finally:
        conn.close()
    return int(n)


async def test_a_ticket_submitted_again_leaves_no_second_history_in_the_servers_database(
    tmp_path: Path,
) -> None:
    server = EmbeddedServer(tmp_path, "127.0.0.1", free_port(), ui=False)
    await server.start()
    try:
        # The project's converter without a key ring: the input stays readable JSON here.
        client = await Client.connect(server.address, data_converter=data_converter(key_ring=None))
        ticket = make_ticket(subject=f"Where is {MARKER}?")
        # No worker polls the queue: the first run stays RUNNING and holds the id.
        queue = "nobody-polls-this"
        first = await ops.start_ticket(client, ticket, task_queue=queue)
        again = [await ops.start_ticket(client, ticket, task_queue=queue) for _ in range(3)]

        assert first.started and not any(o.started for o in again)
        assert histories_holding(server.db_path, MARKER) == 1
    finally:
        await server.stop()
