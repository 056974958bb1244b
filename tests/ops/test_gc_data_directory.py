"""`gc-payloads` on a database collects the data directory's files from before the move too:
`erase` sends there what it kept of a customer's in those files (an id another run shares, a
store that failed), and the command collected the database's store alone, so those files
stayed for good. The real dev server, PostgreSQL and the CLI."""

import json
import uuid
from pathlib import Path

import pytest

from shared.stores.payloads import PayloadOwner, content_key
from shared.stores.payloads_file import FilePayloadDriver
from tests.ops.conftest import OpsServer
from tests.support.payload_gc import backdate, offloading_store
from tests.support.postgres import PostgresServer
from tests.support.processes import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_gc_on_a_database_collects_the_data_directorys_files_of_gone_workflows(
    ops_server: OpsServer, postgres: PostgresServer, tmp_path: Path
) -> None:
    key_file = ops_server.data_dir / "encryption-keys.json"
    url = postgres.create_database("gcdir")
    env, database_store, _ = await offloading_store(ops_server.env, key_file, tmp_path, url)
    assert await database_store.ownership() == []  # (its tables made, as a worker makes them)
    files = FilePayloadDriver(tmp_path / "payloads")  # what this machine stored before the move
    data = b"a customer's ticket, stored as a file before the stack had a database"
    key = content_key(data)
    gone = PayloadOwner("workflow", f"ticket-gone-{uuid.uuid4().hex[:8]}", "TicketWorkflow")
    await files.put_many([(key, data)], gone)
    await backdate(files, hours=2)

    alone = run_cli(env, "gc-payloads", "--yes", "--json")  # the database's store only
    assert alone.code == 0, alone.output
    assert json.loads(alone.stdout)["data_directory"] is None
    assert (tmp_path / "payloads" / key[:2] / key).exists()

    dry = run_cli(env, "gc-payloads", "--data-directory", "--json")
    assert dry.code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["store"].startswith("table payloads")  # the database's store, first
    earlier = plan["data_directory"]
    assert (earlier["owners_gone"], earlier["payloads_to_delete"]) == (1, 1)
    assert (tmp_path / "payloads" / key[:2] / key).exists()  # a dry run deletes nothing

    done = run_cli(env, "gc-payloads", "--yes", "--data-directory")
    assert done.code == 0, done.output
    assert f"files under {tmp_path / 'payloads'}" in done.stdout
    assert "Deleted 1 payload(s)" in done.stdout
    assert not (tmp_path / "payloads" / key[:2] / key).exists()
    assert await files.payloads_of(gone.id) == set()
