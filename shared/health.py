"""The worker's health endpoints, for supervisors and load balancers.

    GET /healthz   200 while the process is alive and every worker (one per task queue) is
                   polling; 503 once one of them has stopped. A supervisor restarts on this.
    GET /readyz    200 when the worker can do work: Temporal answers its health check, the shared
                   database (TICKETS_DATABASE_URL, when set) answers a query, and the worker is not
                   draining; 503 otherwise, naming the check that failed (why is in the worker's
                   log, not in an answer anyone who reaches the port can read: the database's host
                   and name, the server's address). Once asked to stop (SIGTERM), it says
                   "draining" while in-flight activities finish.

Served on TICKETS_HEALTH_ADDRESS (host:port), unset by default so several workers on one host
never fight over a port. A small asyncio HTTP/1.1 server: two fixed routes, JSON answers, no
request body read, every connection closed after one answer; nothing to justify a web framework
in the worker process. Each check has a short timeout, so a hung dependency makes /readyz answer
503 quickly rather than hang the probe.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Final, Protocol

from temporalio.client import Client

from shared.settings import ConfigError

if TYPE_CHECKING:  # psycopg loads only where a database is configured (shared/stores/factory.py)
    from shared.stores.postgres import PostgresDatabase

log = logging.getLogger("worker.health")

HEALTH_ADDRESS_ENV: Final = "TICKETS_HEALTH_ADDRESS"
# Each dependency check gets this long; a probe's own timeout (compose: 5 s) is above it.
CHECK_TIMEOUT_SECONDS: Final = 3.0
# A client that has not sent its request line and headers by then is dropped.
REQUEST_TIMEOUT_SECONDS: Final = 5.0
# The request line and headers together; a probe sends a few hundred bytes.
MAX_REQUEST_BYTES: Final = 8192
# A worker may be starting this long (the server's rates and schedule checked, the routing
# asked, the SDK's validation; seconds, a minute against a slow server) before /healthz calls
# it failing: a start that hangs (a server that takes connections and never answers) was 200
# for good, nothing polling, and no liveness probe restarted it.
MAX_STARTING_SECONDS: Final = 180.0

Check = Callable[[], Awaitable[None]]


class Polling(Protocol):
    """What /healthz asks of each Temporal worker (``temporalio.worker.Worker`` has it; and
    ``is_shutdown``, read when there: without it a worker not running is a stopped one)."""

    @property
    def is_running(self) -> bool: ...


def _shut_down(worker: Polling) -> bool:
    """Whether a worker not running has shut down (run and stopped, or failed to start) rather
    than not started yet."""
    return bool(getattr(worker, "is_shutdown", True))


@dataclass
class HealthState:
    """What the endpoints report. ``checks``: name -> a coroutine that raises when the
    dependency is not usable."""

    workers: Sequence[Polling]
    checks: Mapping[str, Check] = field(default_factory=dict)
    draining: bool = False
    # A worker failed for good (its polling): the SDK keeps it "running" while its activities
    # drain, and /healthz said 200 meanwhile (shared/shutdown.py run_until_stopped).
    failed: bool = False
    # When the health server began to answer (monotonic clock): the start's deadline counts from it.
    began: float = field(default_factory=time.monotonic)
    # Each check's last outcome with its reason, so the log gets a line when it changes, not
    # one per probe.
    _logged: dict[str, str] = field(default_factory=dict, repr=False)

    def start_draining(self) -> None:
        """The worker was asked to stop: /readyz says so while in-flight work finishes."""
        self.draining = True

    def fail(self) -> None:
        """A worker failed for good: /healthz fails now, not once its activities drained."""
        self.failed = True

    def alive(self) -> tuple[bool, dict[str, object]]:
        # A worker neither running nor shut down has not started yet: the process is still
        # starting (the server's rates and schedule checked, the routing asked, the SDK
        # validating, one worker after another), which took seconds against a slow server, and
        # /healthz said 503 "failing" meanwhile: a liveness probe without a startup probe
        # restarted the pod in a loop. One that failed its validation is shut down: stopped.
        starting = sum(not w.is_running and not _shut_down(w) for w in self.workers)
        stopped = sum(not w.is_running for w in self.workers) - starting
        body: dict[str, object] = {"workers": len(self.workers), "stopped": stopped}
        if starting:
            body["starting"] = starting
        if self.draining:
            body["draining"] = True
        if self.failed:
            body["failed"] = True
        # While draining, workers stop one after another: that is the shutdown, not a failure.
        starting_for = time.monotonic() - self.began
        too_long = starting and starting_for > MAX_STARTING_SECONDS
        if too_long:
            body["starting_for_seconds"] = round(starting_for)
        ok = (
            bool(self.workers)
            and not self.failed
            and not too_long
            and (stopped == 0 or self.draining)
        )
        status = ("starting" if starting and not self.draining else "ok") if ok else "failing"
        return ok, {"status": status, **body}

    async def ready(self) -> tuple[bool, dict[str, object]]:
        outcomes = await asyncio.gather(*(_run(check) for check in self.checks.values()))
        checks = {}
        for name, (result, why) in zip(self.checks, outcomes, strict=True):
            checks[name] = result
            self._log_change(name, result, why)
        results = list(checks.values())
        alive, said = self.alive()
        starting = said["status"] == "starting"  # not polling yet
        ok = alive and not starting and not self.draining and all(r == "ok" for r in results)
        status = "draining" if self.draining else ("ok" if ok else "not ready")
        if starting:
            status = "starting"
        return ok, {"status": status, "checks": checks}

    def _log_change(self, name: str, result: str, why: str) -> None:
        said = f"{result}: {why}"
        if self._logged.get(name, "ok: ") == said:
            return
        self._logged[name] = said
        if result == "ok":
            log.info("readiness check %r passes again", name)
        else:
            log.warning("readiness check %r fails: %s", name, why)


# What /readyz says of a check that did not pass; the dependency's own words go to the log.
FAILING: Final = "failing (the worker's log says why)"


async def _run(check: Check) -> tuple[str, str]:
    """The check's answer for /readyz, and why (for the log)."""
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        said = f"no answer within {CHECK_TIMEOUT_SECONDS:g}s"
        return said, said
    except Exception as err:  # the dependency's own error, in one line
        text = " ".join(str(err).split())[:300]
        return FAILING, f"{type(err).__name__}: {text}" if text else type(err).__name__
    return "ok", ""


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 <= int(port) < 65536:
        raise ConfigError(f"{HEALTH_ADDRESS_ENV} must be host:port, got {text!r}")
    return host.strip("[]"), int(port)


class HealthServer:
    def __init__(self, state: HealthState) -> None:
        self.state = state
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def start(self, address: str) -> None:
        host, port = parse_address(address)
        try:
            self._server = await asyncio.start_server(
                self._serve, host, port, limit=MAX_REQUEST_BYTES
            )
        except OSError as err:
            raise ConfigError(
                f"{HEALTH_ADDRESS_ENV}={address!r}: cannot serve health there: {err.strerror}"
            ) from None

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await self._answer(reader)
            payload = json.dumps(body, sort_keys=True).encode()
            writer.write(
                f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(payload)}\r\ncache-control: no-store\r\n"
                "connection: close\r\n\r\n".encode("ascii")
                + payload
            )
            await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[str, dict[str, object]]:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_SECONDS)
        except asyncio.LimitOverrunError:
            return "431 Request Header Fields Too Large", {"error": "request too large"}
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        path = rest.split(" ", 1)[0].split("?", 1)[0]
        if path not in ("/healthz", "/readyz"):
            return "404 Not Found", {"error": "not found; try /healthz or /readyz"}
        if method != "GET":
            return "405 Method Not Allowed", {"error": "GET only"}
        ok, body = self.state.alive() if path == "/healthz" else await self.state.ready()
        return ("200 OK" if ok else "503 Service Unavailable"), body


async def start_health_server(address: str, state: HealthState) -> HealthServer:
    server = HealthServer(state)
    await server.start(address)
    return server


def temporal_check(client: Client) -> Check:
    """Temporal's own gRPC health check of the frontend the client talks to."""

    async def check() -> None:
        if not await client.service_client.check_health(
            timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS)
        ):
            raise RuntimeError("the frontend says it is not serving")

    return check


def database_check(database: "PostgresDatabase") -> Check:
    """One query on a pooled connection to the shared database (TICKETS_DATABASE_URL)."""

    async def check() -> None:
        await database.ping()

    return check
