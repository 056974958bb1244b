"""The commands that use the workers' delivery ledger: they run only where it is (an empty one
made elsewhere answers that nothing was ever sent), and their dry runs only read it (no schema
changed, PostgreSQL's or the SQLite ledger's; one behind the code is an error that says so)."""

import sqlite3
from pathlib import Path

import pytest

from tests.ops.conftest import OpsServer
from tests.support.processes import run_cli


def test_erase_dry_run_on_a_ledger_behind_the_code_says_so_and_migrates_nothing(
    ops_server: OpsServer, tmp_path: Path
) -> None:
    # A review (2026-12-07): the dry runs applied the SQLite ledger's migrations (only
    # PostgreSQL's were held back, and erase's not even those), so a newer checkout's dry run
    # changed what older workers still write. (redrive's reads the ledger only for a ticket it
    # plans: tests/stores/test_ledger.py covers the stores it opens.)
    ledger = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(ledger) as conn:  # the first ledger's table, user_version 0
        conn.execute(
            "CREATE TABLE deliveries (ticket_id TEXT PRIMARY KEY, channel TEXT NOT NULL, "
            "customer_id TEXT, revision INTEGER NOT NULL, body TEXT NOT NULL, "
            "delivered_at TEXT NOT NULL)"
        )
    conn.close()
    elsewhere = ops_server.env | {"TICKETS_DATA_DIR": str(tmp_path)}
    elsewhere.pop("TICKETS_DATABASE_URL", None)

    result = run_cli(elsewhere, "erase", "--customer-id", "C-nobody")

    assert result.code != 0
    assert f"the delivery ledger {ledger} is at version 0 and this code needs" in result.stderr
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (0,)
    conn.close()


@pytest.mark.parametrize("really", [False, True])
def test_erase_where_the_workers_ledger_is_not_refuses_and_makes_none(
    ops_server: OpsServer, tmp_path: Path, really: bool
) -> None:
    # A review (2026-12-07): `erase --yes` from a host without the workers' ledger made an empty
    # one and reported the customer's answers erased while the workers' ledger kept them.
    elsewhere = ops_server.env | {"TICKETS_DATA_DIR": str(tmp_path)}
    elsewhere.pop("TICKETS_DATABASE_URL", None)

    result = run_cli(
        elsewhere, "erase", "--customer-id", "C-nobody", *(["--yes"] if really else [])
    )

    assert result.code != 0
    assert f"no delivery ledger at {tmp_path}" in result.stderr
    assert not list(tmp_path.glob("outbox*"))
