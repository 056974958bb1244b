"""Several worker processes standing in for several machines: each with its own data directory,
all on one Temporal server and one TICKETS_DATABASE_URL, for the tests that kill workers."""

import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client, WorkflowHistory

from shared import names
from starter.spawn import spawn_logged

READY_TIMEOUT = 90.0  # seconds: a cold interpreter imports the provider SDKs on a busy machine
REFERENCE_TYPE = b"temporal.api.sdk.v1.ExternalStorageReference"
# Counts the cluster tests measured, printed in the run's summary (tests/integration/conftest.py)
# because the issue note quotes them.
REPORTS: list[str] = []


@dataclass
class MachineWorker:
    """``python -m worker`` as one machine would run it; SIGKILL is that machine dying."""

    name: str
    data_dir: Path
    env: Mapping[str, str]
    process: "subprocess.Popen[bytes] | None" = None
    pids: list[int] = field(default_factory=list)  # every process this machine has run

    @property
    def log(self) -> Path:
        return self.data_dir / "worker.log"

    def start(self) -> None:
        env = {**self.env, "TICKETS_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1"}
        self._log_start = self.log.stat().st_size if self.log.exists() else 0
        self.process = spawn_logged([sys.executable, "-m", "worker"], self.log, env)
        self.pids.append(self.process.pid)

    def output(self) -> str:
        try:
            with self.log.open("rb") as log:
                log.seek(self._log_start)
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited:\n{self.output()[-3000:]}")
            if "worker: polling" in self.output():
                return
            time.sleep(0.2)
        raise AssertionError(f"worker {self.name} not ready in {READY_TIMEOUT}s:\n{self.output()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None


def identities(history: WorkflowHistory) -> list[str]:
    """Which worker (``pid@host``) picked up each workflow and activity task, in order."""
    found = []
    for event in history.events:
        for kind in ("workflow_task_started", "activity_task_started"):
            attrs = f"{kind}_event_attributes"
            if event.HasField(attrs):  # type: ignore[arg-type]
                found.append(getattr(event, attrs).identity)
    return found


def handed_over(history: WorkflowHistory, first_pids: set[int]) -> bool:
    """True when tasks of this workflow ran on one machine and then on another, and a payload
    stored outside the history was written before the hand-over: the second machine could only
    carry on by reading what the first one stored."""
    seen_first = False
    reference_before = False
    for event in history.events:
        for kind in ("workflow_task_started", "activity_task_started"):
            attrs = f"{kind}_event_attributes"
            if not event.HasField(attrs):  # type: ignore[arg-type]
                continue
            pid = int(getattr(event, attrs).identity.split("@", 1)[0] or 0)
            if pid in first_pids:
                seen_first = True
            elif seen_first and reference_before:
                return True
        if seen_first and REFERENCE_TYPE in event.SerializeToString():
            reference_before = True
    return False


async def ticket_histories(client: Client, ticket_ids: list[str]) -> dict[str, WorkflowHistory]:
    histories = {}
    for ticket_id in ticket_ids:
        handle = client.get_workflow_handle(names.ticket_workflow_id(ticket_id))
        histories[ticket_id] = await handle.fetch_history()
    return histories
