"""The API's Temporal client: made by the one client factory (shared.temporal_client.connect),
so the data converter, encryption and tracing every other process uses apply here too.

The API starts without Temporal (it answers /healthz, and /readyz says not ready) and connects on
the first request that needs it, again after a failure, so restarting Temporal never needs an API
restart.
"""

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from shared.operation_errors import ServerUnreachable
from shared.stores.errors import StoreUnavailable
from shared.temporal_client import (
    ClientConfigError,
    ConnectionSettings,
    connect,
    connection_settings,
)

# A readiness probe must answer well within a compose healthcheck's timeout.
READINESS_TIMEOUT = timedelta(seconds=3)
# A request waits this long for the connection to Temporal (then 503, the attempt going on):
# within a helpdesk webhook's own timeout, so it sees a 503 it retries rather than a timeout.
CONNECT_TIMEOUT = timedelta(seconds=5)
# Probes arriving together share one check, and its outcome stands this long: /readyz needs no
# token, and each check took one of the database pool's connections (or opened one more when
# none was free), so a flood of probes held the pool and ran PostgreSQL out of connections.
READINESS_CACHE_SECONDS = 1.0


class TemporalConnection:
    def __init__(
        self,
        settings: ConnectionSettings | None = None,
        factory: Callable[[], Awaitable[Client]] | None = None,
    ) -> None:
        self.settings = settings or connection_settings()
        self._factory = factory or (lambda: connect(self.settings))
        self._client: Client | None = None
        # The first requests arrive together: they share one connection attempt (and its
        # failure: with Temporal down, each would otherwise wait for the ones before it).
        self._attempt: asyncio.Future[Client] | None = None
        # The last readiness check: when it ended (the loop's clock) and its outcome (the
        # server's version, or the error to raise again), and the lock probes share.
        self._checked: tuple[float, str | ServerUnreachable | StoreUnavailable] | None = None
        self._checking = asyncio.Lock()

    async def client(self, timeout: timedelta = CONNECT_TIMEOUT) -> Client:
        """The client, connecting first when there is none; ServerUnreachable when the attempt
        fails or has not succeeded within ``timeout`` (it goes on for the next request)."""
        if self._client is not None:
            return self._client
        if self._attempt is None:
            self._attempt = asyncio.ensure_future(self._connect())
            self._attempt.add_done_callback(self._attempt_ended)
        attempt = self._attempt
        try:
            # Shielded: a request that goes away, or stops waiting, does not cancel the
            # others' attempt. Bounded: a server that accepts the connection and never answers
            # held every request (and /readyz, behind its lock) for the SDK's 30 s.
            self._client = await asyncio.wait_for(asyncio.shield(attempt), timeout.total_seconds())
        except TimeoutError:
            raise ServerUnreachable(
                f"cannot reach the Temporal server at {self.settings.describe()}: it did not "
                f"answer within {timeout.total_seconds():g} s"
            ) from None
        return self._client

    def _attempt_ended(self, attempt: "asyncio.Future[Client]") -> None:
        """An attempt ended (run before any request waiting on it resumes: registered first):
        its client kept, or its failure taken (asyncio logged one nobody retrieved as lost) and
        forgotten, so the next request tries again."""
        if attempt.cancelled() or attempt.exception() is not None:
            if self._attempt is attempt:
                self._attempt = None
        elif self._client is None:
            self._client = attempt.result()

    async def _connect(self) -> Client:
        try:
            return await self._factory()
        except ClientConfigError as err:  # the server has no such namespace, ...
            raise ServerUnreachable(str(err)) from None
        except RuntimeError as err:
            text = str(err)
            cause = (
                "connection refused"
                if "refused" in text.lower()
                else (re.sub(r"\s+", " ", text)[:160])
            )
            raise ServerUnreachable(
                f"cannot reach the Temporal server at {self.settings.describe()}: {cause}"
            ) from None

    async def ready(self) -> str:
        """The server's version when it answers; raises ServerUnreachable (or StoreUnavailable)
        otherwise. One check at a time; its outcome answers every probe for
        READINESS_CACHE_SECONDS."""
        async with self._checking:
            loop = asyncio.get_running_loop()
            if self._checked is None or loop.time() - self._checked[0] >= READINESS_CACHE_SECONDS:
                try:
                    outcome: str | ServerUnreachable | StoreUnavailable = await self._check()
                except (ServerUnreachable, StoreUnavailable) as err:
                    outcome = err
                self._checked = (loop.time(), outcome)
            outcome = self._checked[1]
        if isinstance(outcome, str):
            return outcome
        raise type(outcome)(*outcome.args)

    async def _check(self) -> str:
        client = await self.client(READINESS_TIMEOUT)
        try:
            info = await client.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=READINESS_TIMEOUT
            )
        except Exception as err:  # any RPC failure means: not ready
            raise ServerUnreachable(f"the Temporal server does not answer: {err}") from None
        await _payload_database_answers(client)
        return info.server_version or "unknown version"


async def _payload_database_answers(client: Client) -> None:
    """Raises StoreUnavailable when the converter stores payloads in PostgreSQL
    (TICKETS_DATABASE_URL) and that database does not answer: every ticket with a large payload
    would fail, so the API is not ready."""
    storage = client.data_converter.external_storage
    primary = storage.drivers[0] if storage is not None and storage.drivers else None
    database = getattr(primary, "database", None)
    if database is None or not hasattr(database, "ping"):
        return
    try:
        await asyncio.wait_for(database.ping(), READINESS_TIMEOUT.total_seconds())
    except StoreUnavailable:
        raise
    except TimeoutError:
        raise StoreUnavailable(
            f"the payload database ({database.describe()}) did not answer within "
            f"{READINESS_TIMEOUT.total_seconds():.0f} s"
        ) from None
    except Exception as err:
        raise StoreUnavailable(f"the payload database does not answer: {err}") from None
