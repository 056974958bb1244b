"""One PostgreSQL connection pool per process, opened (and the schema migrated) on first use.

psycopg 3 with its async pool: the pool checks a connection before lending it, so after a database
restart the broken connections are dropped and replaced instead of failing every caller once; an
operation that still fails (the database is down right now) raises, and the activity that asked
is retried by Temporal.
"""

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Final

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from shared.stores.config import DEFAULT_POOL_SIZE, STATEMENT_TIMEOUT_SECONDS
from shared.stores.errors import SchemaBehind, StoreUnavailable
from shared.stores.migrations import (
    LATEST,
    USABLE_FROM,
    VERSION_TABLE,
    MigrationBlocked,
    applied_version,
    migrate,
)
from shared.stores.url import DatabaseTarget, parse_database_url, password_of

# A database that does not answer a new connection within this is reported, not waited for,
# unless the URL (connect_timeout) or PGCONNECT_TIMEOUT says otherwise: a managed database that
# wakes slowly is given what its operator set (a review, 2026-12-08: 5 s replaced it).
CONNECT_TIMEOUT_SECONDS: Final = 5
# How long a caller waits for a free pooled connection (or for a new one while the database
# restarts). Below every store-using activity's start-to-close timeout (delivery: 45 s), so a
# stalled database fails the attempt cleanly and Temporal retries it.
POOL_WAIT_SECONDS: Final = 15.0
# How long the pool's one reconnection retries before it gives up and the next caller begins
# another (psycopg_pool's reconnect_timeout).
RECONNECT_SECONDS: Final = 3.0
# Left of a wait too little to ask the pool again in.
MIN_RETRY_SLICE_SECONDS: Final = 0.05
# How long close() waits for a background check of the idle connections to end.
CLOSE_CHECK_SECONDS: Final = 5.0
# The same for the payload store, which a workflow task uses (its payloads stored and read):
# under the task's 10 s timeout, so a busy pool fails the task with this reason in its history,
# not a timeout that says nothing.
PAYLOAD_POOL_WAIT_SECONDS: Final = 5.0
# A readiness probe's wait for a pooled connection before it asks the database directly why
# there is none (the probe itself gives up after 3 s: shared/health.py).
PING_POOL_WAIT_SECONDS: Final = 0.5
# libpq's TCP keepalives: a connection whose peer vanished (a failover, a dropped NAT entry) is
# found dead in about a minute, not after the kernel's two hours. Keepalives probe an idle
# connection only: with a query sent and unacknowledged, the kernel retransmits for about 15
# minutes, and tcp_user_timeout (ms) bounds that (a payload read on a workflow task hung for
# minutes when the database's host vanished mid-query).
KEEPALIVES: Final = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def explain_connection_error(err: BaseException, target: DatabaseTarget, url: str) -> str:
    """One sentence naming the host and the database and what went wrong, never the password."""
    text = " ".join(str(err).split())
    lowered = text.lower()
    if "password authentication failed" in lowered or "authentication failed" in lowered:
        why = f"the server refused the credentials of user {target.user or '(default)'}"
    elif "does not exist" in lowered and "database" in lowered:
        why = "the server has no such database"
    elif "no password supplied" in lowered:
        why = "the server asks for a password and the URL gives none"
    elif "refused" in lowered or "could not connect" in lowered or "timeout" in lowered:
        why = "nothing answered there (is PostgreSQL running, and is the address right?)"
    else:
        # libpq's own words, minus the "connection to server at ... failed:" preamble.
        why = re.sub(r"^.*?failed:\s*", "", text)[:200] or type(err).__name__
    secret = password_of(url)
    if secret:
        why = why.replace(secret, "***")
    return f"cannot use the PostgreSQL {target.describe()} (TICKETS_DATABASE_URL): {why}"


def pool_settings(
    url: str, statement_timeout_ms: int, env: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The statement timeout and keepalives, ADDED to what the URL (or PGOPTIONS) already asks:
    a keyword argument replaces the URL's parameter of the same name, so ``options`` must carry
    the URL's own (a ``search_path``, say) too, and a keepalive the URL sets is left as set. A
    timeout of 0 sends no options of ours (a pooler that refuses startup options)."""
    env = os.environ if env is None else env
    given = conninfo_to_dict(url)
    settings: dict[str, object] = {k: v for k, v in KEEPALIVES.items() if k not in given}
    if not given.get("options") and _service(given, env):
        # A service file's options (its search_path, say) apply only where the connection
        # names none: an `options` of ours replaced them, and the tables were migrated into
        # and read from `public`. The timeout is set on the connection instead (timeout_set).
        return settings
    theirs = given.get("options") or env.get("PGOPTIONS")
    if statement_timeout_ms > 0 and "statement_timeout" not in (theirs or ""):
        # Only where the URL or PGOPTIONS sets none of its own (theirs would be overridden).
        ours = f"-c statement_timeout={statement_timeout_ms}"
        settings["options"] = f"{theirs} {ours}" if theirs else ours
    elif theirs:
        settings["options"] = theirs
    return settings


def _service(given: Mapping[str, object], env: Mapping[str, str]) -> bool:
    """The URL, or PGSERVICE, names a libpq service (pg_service.conf)."""
    return bool(given.get("service") or env.get("PGSERVICE", "").strip())


def timeout_set_after_connect(
    url: str, statement_timeout_ms: int, env: Mapping[str, str] | None = None
) -> bool:
    """The statement timeout is set on each new connection (``SET``), not sent as a startup
    option: the URL names a libpq service and no options of its own (pool_settings)."""
    given = conninfo_to_dict(url)
    env = os.environ if env is None else env
    return statement_timeout_ms > 0 and not given.get("options") and _service(given, env)


# The timeout set on a connection unless its startup options (the service's) set one already.
_SET_TIMEOUT = (
    "SELECT set_config('statement_timeout', %s, false) FROM pg_settings "
    "WHERE name = 'statement_timeout' AND source <> 'client'"
)


class PostgresDatabase:
    """The pool and the schema. ``ready()`` is idempotent and cheap after the first call."""

    def __init__(
        self,
        url: str,
        pool_size: int = DEFAULT_POOL_SIZE,
        statement_timeout_seconds: float = STATEMENT_TIMEOUT_SECONDS,
        *,
        migrates: bool = True,
    ) -> None:
        """``migrates``: bring the schema up to date when it is behind (workers, the commands
        that write the ledger); False for processes that only read and offload payloads (the
        codec server, the replay gate, the clients' converters), which run no DDL and say the
        schema is behind instead."""
        self.target = parse_database_url(url)  # a ConfigError now, not at first use
        self._url = url
        self._migrates = migrates
        self._pool_size = pool_size
        self._statement_timeout_ms = int(statement_timeout_seconds * 1000)
        self._pool: AsyncConnectionPool | None = None
        # The first callers arrive together: they share one opening (and its failure: with the
        # database hung, each waited for the connect timeouts of the ones before it).
        self._opening: asyncio.Future[None] | None = None
        # A check of every idle connection, begun when one failed its check at lending
        # (_check_lent); at most one at a time.
        self._checking_all: asyncio.Task[None] | None = None

    def describe(self) -> str:
        return f"PostgreSQL {self.target.describe()}"

    def _connect_settings(self) -> dict[str, object]:
        """What every connection is opened with, the first one's and the pool's alike: its
        timeout (the URL's or PGCONNECT_TIMEOUT's, else ours), autocommit, keepalives and
        statement timeout."""
        settings: dict[str, object] = {
            "autocommit": True,
            # No server-side prepared statements (psycopg prepares a query on its fifth run): a
            # pooler in transaction mode (PgBouncer) hands the next transaction another server
            # connection, where "_pg3_0" does not exist.
            "prepare_threshold": None,
            **pool_settings(self._url, self._statement_timeout_ms),
        }
        if (
            not conninfo_to_dict(self._url).get("connect_timeout")
            and not os.environ.get("PGCONNECT_TIMEOUT", "").strip()
        ):
            settings["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        return settings

    async def _configure(self, conn: AsyncConnection) -> None:
        """A new connection's statement timeout, where a service names the options (above)."""
        if timeout_set_after_connect(self._url, self._statement_timeout_ms):
            await conn.execute(_SET_TIMEOUT, (f"{self._statement_timeout_ms}ms",))

    async def _connect_directly(self, connect_timeout: int | None = None) -> AsyncConnection:
        """A connection outside the pool, whose error says exactly what is wrong (the pool would
        only report a timeout): StoreUnavailable with that sentence."""
        settings = self._connect_settings()
        if connect_timeout is not None:
            settings["connect_timeout"] = connect_timeout
        try:
            conn = await AsyncConnection.connect(self._url, **settings)
        except psycopg.Error as err:
            raise StoreUnavailable(explain_connection_error(err, self.target, self._url)) from None
        try:
            await self._configure(conn)
        except psycopg.Error as err:
            await conn.close()
            raise StoreUnavailable(explain_connection_error(err, self.target, self._url)) from None
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _check(self) -> None:
        """One direct connection first, so a failure is named; the schema is read on it, and
        migrated when it is behind and this process migrates. A current schema takes no DDL (a
        role that may only read and write the tables works)."""
        conn = await self._connect_directly()
        try:
            try:
                version = await applied_version(conn)
            except psycopg.errors.InsufficientPrivilege:
                # A read refused: no DDL was asked, and "create and alter tables" sent the
                # operator to grant what the role did not need.
                raise StoreUnavailable(
                    f"cannot read the schema's version in the PostgreSQL "
                    f"{self.target.describe()} (TICKETS_DATABASE_URL): this user may not read "
                    f"{VERSION_TABLE} (grant it SELECT on that table; a worker of this version "
                    "grants it, when it migrates, to every role that may read the deliveries: "
                    "docs/stores.md)"
                ) from None
            if version >= LATEST or (not self._migrates and version >= USABLE_FROM):
                return
            if not self._migrates:
                raise SchemaBehind(
                    f"the tables in the PostgreSQL {self.target.describe()} "
                    f"(TICKETS_DATABASE_URL) are at version {version} and this code needs "
                    f"{LATEST}: a worker of this version brings them up to date when it starts "
                    "(docs/stores.md)"
                )
            await migrate(conn)
        except MigrationBlocked as err:
            raise StoreUnavailable(
                f"cannot migrate the tables in the PostgreSQL {self.target.describe()} "
                f"(TICKETS_DATABASE_URL): {err}"
            ) from None
        except psycopg.Error as err:
            # A managed database that refuses CREATE or ALTER to this user, a table of another
            # tool's in the way: one sentence naming the database, not a traceback. The hint
            # only where it is the cause: a connection dropped mid-start, or the statement
            # timeout, blamed permissions the user had.
            what = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            permissions = isinstance(
                err, psycopg.errors.InsufficientPrivilege | psycopg.errors.DuplicateTable
            )
            hint = (
                "the user needs to create and alter tables in it; docs/stores.md"
                if permissions
                else "it may be passing: if so, starting again is enough"
            )
            raise StoreUnavailable(
                f"cannot prepare the tables in the PostgreSQL {self.target.describe()} "
                f"(TICKETS_DATABASE_URL): {what} ({hint})"
            ) from None
        finally:
            await conn.close()

    async def ready(self) -> None:
        if self._pool is not None:
            return
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
            # Forgotten once it ends, whoever waits: a caller that went away while it opened
            # left it behind, and after close() the next ready() took its old success and
            # returned with no pool (a review, 2026-12-07).
            self._opening.add_done_callback(self._opening_ended)
        opening = self._opening
        # Shielded: a caller that goes away does not cancel the others' opening.
        await asyncio.shield(opening)

    def _opening_ended(self, opening: "asyncio.Future[None]") -> None:
        if self._opening is opening:
            self._opening = None  # the next caller tries again after a failure
        if not opening.cancelled():
            opening.exception()  # taken: a failure nobody awaited is not logged as lost

    async def _open(self) -> None:
        await self._check()
        pool = AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=self._pool_size,
            open=False,
            timeout=POOL_WAIT_SECONDS,
            kwargs=self._connect_settings(),
            configure=self._configure,
            check=self._check_lent,
            # A reconnection that fails gives up after this long, and the next caller starts a
            # new one: with the default (300 s) one task retried alone, waiting 1, 2, 4 ... 128 s
            # between tries, so after an outage of a few minutes the pool came back up to two
            # minutes after the database did, every call failing meanwhile (a review,
            # 2026-12-07: 61 s after a 70 s outage). Short, as within one reconnection the
            # tries still wait 1, 2 s between them (with 15 s: 7.8 s after an 8 s outage).
            reconnect_timeout=RECONNECT_SECONDS,
            name="ticket-agents",
        )
        try:
            await pool.open(wait=True, timeout=POOL_WAIT_SECONDS)
        except PoolTimeout:
            await pool.close()
            raise StoreUnavailable(
                f"cannot use the PostgreSQL {self.target.describe()} "
                f"(TICKETS_DATABASE_URL): no connection within {POOL_WAIT_SECONDS:g}s"
            ) from None
        self._pool = pool

    async def _check_lent(self, conn: AsyncConnection) -> None:
        """The pool's check of a connection it lends; one that fails has every idle connection
        checked at once (``pool.check()``, in the background). After a database restart a quiet
        process's idle connections are all dead, and the pool tried them one by one, waiting
        1, 2, 4 s between them, its replacements queued behind them: its next callers spent
        their 5 or 15 s on dead connections and failed (a review, 2026-12-07)."""
        try:
            await AsyncConnectionPool.check_connection(conn)
        except Exception:
            pool = self._pool
            if pool is not None and (self._checking_all is None or self._checking_all.done()):
                self._checking_all = asyncio.create_task(pool.check())
                self._checking_all.add_done_callback(_taken)
            raise

    @asynccontextmanager
    async def connection(self, wait: float = POOL_WAIT_SECONDS) -> AsyncIterator[AsyncConnection]:
        """A pooled connection, waiting at most ``wait`` seconds for one (StoreUnavailable)."""
        await self.ready()
        pool = self._pool
        assert pool is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            left = deadline - loop.time()
            # In slices of RECONNECT_SECONDS: a request already waiting starts no new
            # reconnection, only a new one does, so after an outage a quiet process's one
            # caller waited out its whole wait after the database was back (7.7 s late after an
            # 8 s outage), a full-sized pool's as well (it replaces dead connections without
            # counting them out). The cost: while every connection is busy a caller goes to
            # the back of the queue every few seconds; it never waits past its own wait.
            try:
                pooled = pool.connection(timeout=min(left, RECONNECT_SECONDS))
                conn = await pooled.__aenter__()
                break
            except PoolTimeout:
                if deadline - loop.time() > MIN_RETRY_SLICE_SECONDS:
                    continue
                # The pool says the same whether its connections are all busy or the database
                # does not answer new ones (stopped): the sentence names both.
                raise StoreUnavailable(
                    f"the PostgreSQL {self.target.describe()} (TICKETS_DATABASE_URL): no "
                    f"connection within {wait:g}s (the database does not answer, or all "
                    f"{self._pool_size} of this process's pooled connections are busy)"
                ) from None
        try:
            yield conn
        except BaseException as err:
            if not await pooled.__aexit__(type(err), err, err.__traceback__):
                raise
        else:
            await pooled.__aexit__(None, None, None)

    async def ping(self) -> None:
        """One round trip on a pooled connection (the worker's and the API's /readyz). When the
        pool has none to lend at once, one direct connection says why (the pool would only
        time out: a stopped database read "no answer within 3s" instead of "nothing answered")."""
        await self.ready()
        assert self._pool is not None
        try:
            async with self._pool.connection(timeout=PING_POOL_WAIT_SECONDS) as conn:
                await conn.execute("SELECT 1")
            return
        except PoolTimeout:
            pass
        conn = await self._connect_directly(connect_timeout=2)  # libpq's least
        await conn.close()
        raise StoreUnavailable(
            f"the PostgreSQL {self.target.describe()} answers, but none of this process's "
            f"{self._pool_size} pooled connections was free within {PING_POOL_WAIT_SECONDS:g}s"
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        checking, self._checking_all = self._checking_all, None
        if pool is not None:
            await pool.close()
        if checking is not None and not checking.done():
            # Not cancelled: it holds the idle connections out of the pool while it checks
            # them, and one cancelled mid-check was never closed (a server session left
            # open). Against a closed pool it closes each one it hands back.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(checking), CLOSE_CHECK_SECONDS)


def _taken(task: "asyncio.Task[None]") -> None:
    """A background check's end: its failure (the database still down) is the callers' to
    meet, not an "exception never retrieved" in the log."""
    if not task.cancelled():
        task.exception()
