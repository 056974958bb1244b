"""The real processes, for integration tests: the dev server, the worker, the CLI."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port nothing listens on, that the kernel will not hand out again at once.

    Binding to port 0 and closing is not enough: Linux randomises ephemeral ports and may give
    the same one to the next outgoing connection or random-port listener (the dev server opens
    several) before our server binds it. Connecting to it once leaves the port in TIME_WAIT,
    which keeps it out of the ephemeral pool for a while; servers that set SO_REUSEADDR (Go's
    do, the Temporal server included) can still bind it.
    """
    with socket.socket() as listener:
        # As Go's listeners do: the TIME_WAIT left behind then does not block a later bind.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = int(listener.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            # The accepting side closes first, so the TIME_WAIT stays with the listening port.
            accepted.close()
            client.recv(1)
    return port


def port_is_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


# Worker processes in tests stop within seconds: the production grace (the longest agent attempt,
# minutes) would only matter to a test that stops a worker mid-call, and those set their own.
TEST_SHUTDOWN_GRACE_SECONDS = "5"


def environment(address: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "TICKETS_"))}
    env.update(
        TEMPORAL_ADDRESS=address,
        TICKETS_DATA_DIR=str(data_dir),
        TICKETS_SHUTDOWN_GRACE_SECONDS=TEST_SHUTDOWN_GRACE_SECONDS,
        COLUMNS="200",
    )
    env.update(extra)
    return env


def start_cli(env: dict[str, str], *args: str) -> "subprocess.Popen[str]":
    """``python -m starter ARGS`` in its own process group, so a test can end it and everything
    it started (the embedded server, the worker) together if it hangs."""
    return subprocess.Popen(
        [sys.executable, "-m", "starter", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (children, theirs, ...), read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def kill_group(process: "subprocess.Popen[str]") -> None:
    """The process's group, and its descendants in groups of their own (the embedded server
    `make run` starts outside the terminal's signals): none left running after a failed test."""
    own_groups = [
        pid for pid in descendants(process.pid) if _group_of(pid) not in (None, process.pid)
    ]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(10)
            break
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue
    for pid in own_groups:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def run_cli(env: dict[str, str], *args: str, timeout: float = 100) -> CliResult:
    """Run the CLI as a user would type it, from the project directory; a run that outlives
    ``timeout`` is ended with its whole process group and fails the test."""
    process = start_cli(env, *args)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        raise AssertionError(f"`starter {' '.join(args)}` did not finish in {timeout}s") from None
    return CliResult(process.returncode, stdout, stderr)


def submit_breach(env: dict[str, str], ticket_id: str, *options: str) -> CliResult:
    """`submit` of an enterprise customer's urgent security ticket: one that waits for review."""
    return run_cli(
        env,
        "submit",
        "--id",
        ticket_id,
        "--subject",
        "Security breach",
        "--body",
        "Our admin account was hacked, urgent.",
        "--tier",
        "enterprise",
        *options,
    )


def worker_run_to_its_end(data_dir: Path, **extra: str) -> "subprocess.CompletedProcess[str]":
    """`python -m worker` on the offline provider with ``extra`` in its environment, for a
    setting that stops it before it takes any task (no Temporal server answers at its address):
    its exit code and what it printed."""
    env = environment(f"127.0.0.1:{free_port()}", data_dir, **extra)
    env["TICKETS_PROVIDER"] = "offline"
    return subprocess.run(
        [sys.executable, "-m", "worker"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
