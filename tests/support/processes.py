"""The real processes, for integration tests: the dev server, the worker, the CLI."""

import asyncio
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def environment(address: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "TICKETS_"))}
    env.update(TEMPORAL_ADDRESS=address, TICKETS_DATA_DIR=str(data_dir), COLUMNS="200", **extra)
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> CliResult:
    """``python -m starter ARGS`` as a user would type it, from the project directory."""
    done = subprocess.run(
        [sys.executable, "-m", "starter", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def run(coro: "asyncio.Future[object] | object") -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]
