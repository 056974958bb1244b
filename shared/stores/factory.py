"""The one place that turns the environment into stores: the worker, the command-line client
(through ``shared.data_converter``) and the tests all get theirs here."""

import asyncio
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.loopback import loopback
from shared.private_files import private_dir
from shared.stores.config import StoreConfig
from shared.stores.errors import StoreUnavailable
from shared.stores.ledger import DeliveryLedger
from shared.stores.payloads import ContentAddressedDriver
from shared.stores.payloads_file import FilePayloadDriver
from shared.stores.sqlite_ledger import SqliteLedger

# The PostgreSQL stores (and psycopg, a few hundred ms to import) load when a database is
# configured: the command-line client and a worker on files start without them.
if TYPE_CHECKING:
    from shared.stores.postgres import PostgresDatabase


@dataclass
class Stores:
    config: StoreConfig
    ledger: DeliveryLedger
    payloads: ContentAddressedDriver
    database: "PostgresDatabase | None"

    def describe(self) -> list[str]:
        return [
            f"delivery ledger: {self.ledger.describe()}",
            f"payloads: {self.payloads.describe()}",
        ]

    def private_ledger_warning(self, temporal_address: str) -> str | None:
        """A delivery ledger in a file of this machine while Temporal is on another one: a
        worker of a cluster started without TICKETS_DATABASE_URL keeps claims no other worker
        sees, and the two can send one answer twice (a review, 2026-12-08: it said nothing)."""
        if self.config.database_url is not None or loopback(temporal_address):
            return None
        return (
            f"warning: the delivery ledger is a file on this machine (TICKETS_DATABASE_URL is "
            f"not set) while Temporal is at {temporal_address}: a worker on another machine "
            "keeps a ledger of its own, and the two can send the same answer twice. Give every "
            "worker of a cluster the same TICKETS_DATABASE_URL (docs/deploy.md)"
        )

    async def close(self) -> None:
        await self.ledger.close()
        if self.database is not None:
            await self.database.close()

    async def __aenter__(self) -> "Stores":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def payload_drivers(stores: Stores) -> list[ContentAddressedDriver]:
    """The payload store the stack writes and, on a database, the data directory's files too:
    every converter still reads them (what a machine stored before it joined a cluster), so
    they may hold a customer's text. `erase` searched the database's store alone, and
    `gc-payloads` collected it alone (erase's report sent what it kept there to it)."""
    drivers = [stores.payloads]
    config: StoreConfig | None = getattr(stores, "config", None)
    if (
        config is not None
        and not isinstance(stores.payloads, FilePayloadDriver)
        and config.payload_dir.is_dir()
    ):
        drivers.append(FilePayloadDriver(config.payload_dir))
    return drivers


def database(config: StoreConfig, *, migrates: bool = True) -> "PostgresDatabase | None":
    if config.database_url is None:
        return None
    from shared.stores.postgres import PostgresDatabase

    return PostgresDatabase(
        config.database_url,
        config.pool_size,
        statement_timeout_seconds=config.statement_timeout_seconds,
        migrates=migrates,
    )


def payload_driver(
    config: StoreConfig, db: "PostgresDatabase | None" = None, *, migrates: bool = True
) -> ContentAddressedDriver:
    """PostgreSQL when a database is configured, files under the data directory otherwise. The
    database is connected (and migrated, if ``migrates`` and it is behind) on first use."""
    db = db or database(config, migrates=migrates)
    if db is None:
        return FilePayloadDriver(config.payload_dir)
    from shared.stores.payloads_postgres import PostgresPayloadDriver

    return PostgresPayloadDriver(db)


def build_stores(config: StoreConfig, *, migrates: bool = True) -> Stores:
    """Stores that connect on first use (the command-line client, tests); ``migrates`` False:
    a schema behind this code (PostgreSQL's or the SQLite ledger's) is an error, not upgraded
    (a dry run)."""
    db = database(config, migrates=migrates)
    ledger: DeliveryLedger
    if db is None:
        ledger = SqliteLedger(config.ledger_path, migrates=migrates)
    else:
        from shared.stores.postgres_ledger import PostgresLedger

        ledger = PostgresLedger(db)
    return Stores(config, ledger, payload_driver(config, db), db)


async def open_stores(env: Mapping[str, str] | None = None) -> Stores:
    """Stores for a worker: the database is connected and its schema migrated now, so a wrong
    URL, refused credentials or an unreachable database stop the worker at once with one sentence
    (StoreUnavailable; a malformed setting raises ConfigError)."""
    config = StoreConfig.from_env(env)
    stores = build_stores(config)
    if stores.database is not None:
        await stores.database.ready()
        return stores
    # Without a database, the data directory's: the ledger opened (and migrated) and the
    # payload directory made now too. They were opened at first use, and a data directory
    # that cannot be written (a service started in a read-only directory) let every ticket run
    # through its paid agent calls, then fail its delivery for hours of retries.
    try:
        await stores.ledger.count()
        await asyncio.to_thread(private_dir, config.payload_dir)
        writable = await asyncio.to_thread(os.access, config.payload_dir, os.W_OK)
    except (OSError, sqlite3.Error) as err:
        await stores.close()
        raise StoreUnavailable(
            f"the data directory {config.data_dir} cannot be used (TICKETS_DATA_DIR): {err}"
        ) from None
    if not writable:
        await stores.close()
        raise StoreUnavailable(
            f"the payload directory {config.payload_dir} is not writable (TICKETS_DATA_DIR)"
        )
    return stores
