"""A worker whose database cannot be used stops at once with one sentence naming the host and
the database, never the password, before it takes any task."""

import asyncio
import subprocess
from pathlib import Path

import pytest

import worker
from tests.support.postgres import PostgresServer
from tests.support.processes import PROJECT_ROOT, environment, free_port, worker_run_to_its_end

pytestmark = pytest.mark.integration


def start_worker(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    # No Temporal server is needed: the database is checked before Temporal is dialled.
    return worker_run_to_its_end(tmp_path, TICKETS_DATABASE_URL=url)


def test_refused_credentials_stop_the_worker_with_one_sentence(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    result = start_worker(tmp_path, postgres.url("postgres", password="not-the-password"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"worker: cannot use the PostgreSQL database 'postgres' on 127.0.0.1:{postgres.port} "
        "(TICKETS_DATABASE_URL): the server refused the credentials of user postgres"
    ]
    assert "not-the-password" not in result.stdout + result.stderr
    assert "worker: polling" not in result.stdout


async def _run_worker_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str
) -> tuple[int, list[str]]:
    """``worker.run`` in this process (the same code as ``python -m worker`` runs, without the
    seconds a new interpreter spends importing the provider SDKs)."""
    for name, value in environment(f"127.0.0.1:{free_port()}", tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TICKETS_PROVIDER", "offline")
    monkeypatch.setenv("TICKETS_DATABASE_URL", url)
    monkeypatch.chdir(PROJECT_ROOT)
    code = await worker.run(None, asyncio.Event())
    captured = capsys.readouterr()
    assert "worker: polling" not in captured.out
    return code, captured.err.splitlines()


async def test_an_unreachable_database_stops_the_worker_with_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    port = free_port()
    url = f"postgresql://app:pw-in-url-1@127.0.0.1:{port}/tickets"
    code, [line] = await _run_worker_in_process(monkeypatch, capsys, tmp_path, url)
    assert code == 1
    assert line.startswith(
        f"worker: cannot use the PostgreSQL database 'tickets' on 127.0.0.1:{port}"
    )
    assert "nothing answered there" in line and "pw-in-url-1" not in line


async def test_a_url_that_is_not_postgresql_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = "mysql://app:pw-in-url-2@db/tickets"
    code, [line] = await _run_worker_in_process(monkeypatch, capsys, tmp_path, url)
    assert code == 2
    assert line.startswith("worker: configuration error: TICKETS_DATABASE_URL must be a postgresql")
    assert "pw-in-url-2" not in line
