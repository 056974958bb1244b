"""A real PostgreSQL for the tests: the machine's server binaries (Debian's ``postgresql``
package, installed by ``make test`` when missing: .ci/system-packages), a cluster in a temporary
folder on a free port on 127.0.0.1, password authentication over TCP, stopped (and its folder
removed) at the end.

``initdb`` refuses to run as root, and the tests run as root in CI: the server's commands then
run as the ``postgres`` user (``runuser``), which owns the temporary folder.
"""

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import psycopg

from tests.support.processes import free_port

SUPERUSER: Final = "postgres"
START_TIMEOUT_SECONDS: Final = 60


def server_binaries() -> Path:
    """The newest installed PostgreSQL's bin folder; a clear error when there is none (never a
    silent skip: CI installs the package)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError(
        "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
        "apt-get install postgresql (make test does this on a fresh machine, as root: "
        ".ci/system-packages)"
    )


def _major_version(path: str) -> int:
    try:
        return int(Path(path).parents[1].name)
    except ValueError:
        return 0


class PostgresServer:
    def __init__(self) -> None:
        self.bin = server_binaries()
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.root = Path(tempfile.mkdtemp(prefix="ticket-agents-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}\n{log}"
            )

    def initdb(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()

    def start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.root}",
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=200",
                # A test database: durability across a power cut is not what is being tested
                # (the kernel keeps what was written when the server process dies). Commits stay
                # synchronous: with synchronous_commit=off a server killed mid-run forgets
                # commits it already confirmed, which the restart test would rightly report.
                "-c fsync=off",
                "-c full_page_writes=off",
            ]
        )
        self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "-o",
            options,
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w")

    def restart(self) -> None:
        """What a database restart looks like to its clients: every connection is cut (immediate
        shutdown, as after a crash), then the server takes new ones again."""
        self.stop(mode="immediate")
        self.start()

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{SUPERUSER}:{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test") -> str:
        """A new, empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)

    def cleanup(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.initdb()
        server.start()
        yield server
    finally:
        server.cleanup()
