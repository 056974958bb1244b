"""Store settings from the environment (a worker/process setting: never part of the pipeline
configuration snapshot that goes into every history, so no credential can reach one).

  TICKETS_DATABASE_URL          postgresql://user:password@host:5432/db: the delivery ledger and
                                the payload store live there, shared by every worker machine.
                                Unset: SQLite and files under TICKETS_DATA_DIR (one machine).
  TICKETS_DATABASE_POOL_SIZE    connections per process (default 10)
  TICKETS_DATABASE_STATEMENT_TIMEOUT_SECONDS
                                the server cancels a statement running longer (default 120;
                                0: none sent, for a connection pooler that refuses startup
                                options)
  TICKETS_PAYLOAD_OFFLOAD_BYTES payloads at least this large leave the history (default 128 KiB)
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from shared.settings import ConfigError, data_dir
from shared.stores.url import parse_database_url, redact

# Defined here, not in shared/stores/postgres.py, so reading the settings loads no database
# driver (a process without TICKETS_DATABASE_URL never imports psycopg).
DEFAULT_POOL_SIZE: Final = 10
# A statement that runs longer is cancelled by the server: a lock held by a stuck session ends
# the call with an error (and the activity's retry) instead of holding a pooled connection for
# ever. Far above any statement on the workers' path (the largest writes one 2 MB payload);
# gc-payloads' whole-table reads of a store with millions of payloads take seconds.
STATEMENT_TIMEOUT_SECONDS: Final = 120.0

# Well under Temporal's 2 MB payload limit, well above any ticket: only big outputs move out.
DEFAULT_OFFLOAD_BYTES: Final = 128 * 1024
MAX_OFFLOAD_BYTES: Final = 2 * 1024 * 1024
MAX_POOL_SIZE: Final = 200
# A day: beyond any statement of ours (gc-payloads' largest reads take seconds).
MAX_STATEMENT_TIMEOUT_SECONDS: Final = 86_400


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:,} and {high:,}, got {value:,}")
    return value


@dataclass(frozen=True)
class StoreConfig:
    data_dir: Path
    database_url: str | None = field(default=None, repr=False)  # may carry a password
    pool_size: int = DEFAULT_POOL_SIZE
    # Sent as the connections' startup option statement_timeout; 0 sends no options of ours.
    statement_timeout_seconds: int = int(STATEMENT_TIMEOUT_SECONDS)
    offload_bytes: int = DEFAULT_OFFLOAD_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "StoreConfig":
        env = os.environ if env is None else env
        url = (env.get("TICKETS_DATABASE_URL") or "").strip() or None
        if url is not None:
            parse_database_url(url)  # a ConfigError here names the problem, not the password
        return cls(
            data_dir=data_dir(env),
            database_url=url,
            pool_size=_int(env, "TICKETS_DATABASE_POOL_SIZE", DEFAULT_POOL_SIZE, 1, MAX_POOL_SIZE),
            statement_timeout_seconds=_int(
                env,
                "TICKETS_DATABASE_STATEMENT_TIMEOUT_SECONDS",
                int(STATEMENT_TIMEOUT_SECONDS),
                0,
                MAX_STATEMENT_TIMEOUT_SECONDS,
            ),
            offload_bytes=_int(
                env, "TICKETS_PAYLOAD_OFFLOAD_BYTES", DEFAULT_OFFLOAD_BYTES, 0, MAX_OFFLOAD_BYTES
            ),
        )

    @property
    def payload_dir(self) -> Path:
        return self.data_dir / "payloads"

    @property
    def ledger_path(self) -> Path:
        # The name of the original outbox file: an existing one is migrated in place.
        return self.data_dir / "outbox.sqlite3"

    def no_workers_ledger(self) -> str | None:
        """Why a command that reads or writes the workers' delivery ledger must not run here
        (none: it may): without a database, a data directory holding no ledger is not theirs,
        and an empty ledger made here would answer that no ticket was ever answered."""
        if self.database_url is not None or self.ledger_path.exists():
            return None
        return (
            f"no delivery ledger at {self.ledger_path} and no TICKETS_DATABASE_URL: run where "
            "the workers' ledger is (their data directory or database); nothing was done"
        )

    def describe_database(self) -> str:
        return redact(self.database_url) if self.database_url else "none (embedded default)"
