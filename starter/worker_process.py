"""The worker as a child process (``python -m worker``), for `make run`, the benchmarks and the
tests that need a real worker process: started until it polls, its output in the data directory,
stopped gracefully or killed as a crashed machine would be; its metrics endpoint on a free port.
"""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from shared.metrics import METRICS_ADDRESS_ENV
from shared.worker_versioning import without_versioning
from starter.errors import CliError
from starter.spawn import log_since, log_size, spawned, stop_process

WORKER_READY_TIMEOUT = 60.0
# A worker that did not say its grace (it never started polling): how long a stop waits.
UNSAID_GRACE_SECONDS = 20.0
# Past the worker's grace: its last results sent, its spans flushed, its clients closed.
STOP_MARGIN_SECONDS = 10.0
# The worker's start-up line, "... Ctrl-C to stop (in-flight work gets 125s to finish)".
_GRACE_SAID = re.compile(r"in-flight work gets ([0-9]+(?:\.[0-9]+)?)s to finish")


class WorkerProcess:
    """``python -m worker`` as a child process, its output in the data directory; ``queues``:
    the task queues it polls (``--queues``), all it needs when empty. Unversioned, whatever
    ``env`` says, unless ``set_env`` gives it a version: `make run`, the benchmarks and the tests
    run it on servers where nobody makes a build current, so a version would take no task."""

    def __init__(
        self,
        data_dir: Path,
        address: str,
        env: Mapping[str, str] | None = None,
        queues: Sequence[str] = (),
    ) -> None:
        self.log_path = data_dir / "worker.log"
        self._args = ["--queues", ",".join(queues)] if queues else []
        self._env = {
            **without_versioning(os.environ if env is None else env),
            "TICKETS_DATA_DIR": str(data_dir),
            "TEMPORAL_ADDRESS": address,
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    def set_env(self, name: str, value: str) -> None:
        """For the next start."""
        self._env[name] = value

    async def start(self) -> None:
        self._log_start = log_size(self.log_path)
        self._process = await spawned(
            [sys.executable, "-m", "worker", *self._args],
            self.log_path,
            {**self._env, "PYTHONUNBUFFERED": "1"},
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WORKER_READY_TIMEOUT
        while loop.time() < deadline:
            self.check_alive()
            if "worker: polling" in self.output():
                return
            await asyncio.sleep(0.2)
        raise CliError(
            f"the worker did not start within {WORKER_READY_TIMEOUT:.0f}s; see {self.log_path}"
        )

    @property
    def pid(self) -> int:
        if self._process is None:
            raise CliError("the worker is not running")
        return self._process.pid

    def output(self) -> str:
        return log_since(self.log_path, self._log_start)

    def stopped_as_asked(self) -> bool:
        """The worker exited 0: it does so only when told to stop (SIGINT, SIGTERM), as a
        terminal's Ctrl-C tells every process of the foreground group at once."""
        return self._process is not None and self._process.poll() == 0

    def check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            tail = "\n".join(self.output().splitlines()[-10:])
            raise CliError(f"the worker {how_it_ended(self._process.returncode)}:\n{tail}")

    def kill(self) -> None:
        """SIGKILL, no graceful shutdown: what a crashed machine looks like to Temporal."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def stop_wait(self) -> float:
        """How long a stop waits before it kills the worker: the grace the worker said it gives
        its in-flight work, and a margin. A fixed 20 s killed `make run`'s worker in the middle
        of a model call its 125 s grace was letting finish (the call paid for, then made again)."""
        said = _GRACE_SAID.search(self.output())
        if said is None:
            return UNSAID_GRACE_SECONDS
        return float(said.group(1)) + STOP_MARGIN_SECONDS

    async def stop(self) -> None:
        wait = self.stop_wait()
        process, self._process = self._process, None
        await stop_process(process, wait)


def how_it_ended(returncode: int) -> str:
    """A process's end as a person reads it: "exited with code -9" did not say it was killed."""
    if returncode < 0:
        try:
            name = f" ({signal.Signals(-returncode).name})"
        except ValueError:
            name = ""
        return f"was killed by signal {-returncode}{name}"
    return f"exited with code {returncode}"


# How often a worker whose metrics port was taken meanwhile is started again on another.
METRICS_PORT_TRIES = 3


async def start_with_metrics(worker: WorkerProcess, given: str | None) -> str:
    """Start the worker with its metrics endpoint at ``given``, or at a free port this picks:
    the address it serves. A picked port is only free when picked: another process took it
    before the worker bound it (seen in the suite, two processes starting servers at once), and
    the worker stopped with "Address already in use". Then another port is picked."""
    for attempt in range(1, METRICS_PORT_TRIES + 1):
        address = given or f"127.0.0.1:{free_local_port()}"
        worker.set_env(METRICS_ADDRESS_ENV, address)
        try:
            await worker.start()
            return address
        except CliError as err:
            taken = METRICS_ADDRESS_ENV in str(err) and "in use" in str(err)
            if given or not taken or attempt == METRICS_PORT_TRIES:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


def worker_warnings(output: str) -> list[str]:
    """The warnings in a worker's start-up output (``worker: warning: ...`` lines)."""
    prefix = "worker: warning: "
    return [line.removeprefix(prefix) for line in output.splitlines() if line.startswith(prefix)]


def free_local_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (for the worker's metrics endpoint)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
