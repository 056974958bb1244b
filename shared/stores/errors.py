"""Errors of the shared stores, each a sentence a person can act on (never with a password)."""

import sqlite3
import sys


class StoreUnavailable(Exception):
    """The configured database cannot be used: unreachable, refused credentials, no database."""


class SchemaBehind(StoreUnavailable):
    """The database answers, but its tables are older than this code reads, and this process
    does not migrate (the API, the codec server, a dry run): a worker of this version brings
    them up to date when it starts."""


class StoreBusy(StoreUnavailable):
    """The file payload store's lock stayed held by an erasure or a garbage collection past the
    time a store may wait (under a workflow task's timeout, so the reason reaches the history)."""


class PayloadMissing(LookupError):
    """A stored payload a history refers to is not in this process's payload store."""


class PayloadIntegrityError(ValueError):
    """A stored payload's bytes no longer match the content hash it was stored under."""


class PayloadTooLarge(ValueError):
    """A stored payload is larger than the reader allowed itself (``payloads.read_at_most``):
    not read."""


def store_failures() -> tuple[type[BaseException], ...]:
    """What a store may raise once it is open, beyond StoreUnavailable (raised when it is not):
    the drivers' own errors (PostgreSQL restarted or failed over, a statement timed out, the
    pool gave up waiting; SQLite's "database is locked"), the file system's, and a file store's
    record it cannot read (a torn line is a ValueError). A command that must go on past one
    ticket's store failure (erase, after the workflows are deleted) catches these and says
    which. psycopg's only when it was imported (no PostgreSQL store, none of its errors): every
    process imports this module, and psycopg takes 0.16 s to import."""
    found: list[type[BaseException]] = [StoreUnavailable, OSError, sqlite3.Error, ValueError]
    if (psycopg := sys.modules.get("psycopg")) is not None:
        found.append(psycopg.Error)
    return tuple(found)
