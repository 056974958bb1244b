"""Payload drivers for the SDK's external storage (``temporalio.converter.ExternalStorage``).

The data converter runs pydantic JSON -> payload codec -> external storage when it encodes, so
what a driver receives is the codec's output (encrypted, once an encryption codec is in the chain)
and only that is ever stored outside the history. A driver stores each payload under the SHA-256
of its serialized bytes (a payload stored twice is stored once) and checks that hash whenever it
reads one back: bytes that changed in the store are an error, never a silently different value.

With each payload the driver records who owns it: the SDK attributes a payload to a workflow (an
activity's input and result, and a child's result, belong to the workflow that called them; a
child's input to the child), which is what erasure on request and garbage collection look up.
"""

import contextlib
import contextvars
import hashlib
import re
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriver,
    StorageDriverActivityInfo,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)

from shared.off_loop import LARGE_PAYLOAD_BYTES, in_thread_if
from shared.stores.errors import PayloadIntegrityError, PayloadMissing, PayloadTooLarge

HASH_KEY: Final = "sha256"
SIZE_KEY: Final = "bytes"
# The PostgreSQL driver's name in payload references (shared/stores/payloads_postgres.py), here
# so the data converter can name it without loading the database driver.
POSTGRES_DRIVER_NAME: Final = "postgres"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# The most bytes a retrieval in this context may read (None: no limit): the codec server's
# budget per request. The sizes a reference declares are the caller's word; this is the store's.
_READ_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "payload_read_limit", default=None
)


def read_limit() -> int | None:
    """The most bytes a read in this context may take (``read_at_most``), None for no limit."""
    return _READ_LIMIT.get()


@contextlib.contextmanager
def read_at_most(limit: int) -> Iterator[None]:
    """Within it, a driver's retrieval of payloads stored larger than ``limit`` bytes in all
    raises ``PayloadTooLarge`` before reading them."""
    token = _READ_LIMIT.set(limit)
    try:
        yield
    finally:
        _READ_LIMIT.reset(token)


@dataclass(frozen=True)
class PayloadOwner:
    kind: str  # workflow, activity (a standalone activity or an activity's heartbeat) or none
    id: str  # the workflow id ('' when the SDK named no target)
    type: str | None = None
    run_id: str | None = None
    namespace: str | None = None


def owner_of(context: StorageDriverStoreContext) -> PayloadOwner:
    target = context.target
    if isinstance(target, StorageDriverWorkflowInfo):
        return PayloadOwner(
            "workflow", target.id or "", target.type, target.run_id, target.namespace
        )
    if isinstance(target, StorageDriverActivityInfo):
        return PayloadOwner(
            "activity", target.id or "", target.type, target.run_id, target.namespace
        )
    return PayloadOwner("none", "")


@dataclass(frozen=True)
class Ownership:
    """One (payload, owner) pair of the ownership record, as garbage collection reads it."""

    sha256: str
    owner_id: str
    owner_kind: str
    namespace: str | None
    last_stored_at: datetime  # the last time this owner stored this payload
    size_bytes: int


# The namespace a ``Replayer`` works in (the SDK's default): what a replayer stored (one not set
# up to read only) is its own copy, released by garbage collection without a history to check.
REPLAYER_NAMESPACE: Final = "ReplayNamespace"


@dataclass(frozen=True)
class Release:
    """Garbage collection's decision: this owner no longer needs this payload, unless it stored
    it again at or after ``stored_before`` (then the pair stays)."""

    sha256: str
    owner_id: str
    stored_before: datetime
    # The namespace whose ownership goes: records of the pair in another namespace stay (a
    # replayer's copy, labelled REPLAYER_NAMESPACE, released at once, took the live record of
    # the same bytes with it). None: any; a record without one (from before namespaces were
    # kept) matches any release.
    namespace: str | None = None

    def covers(self, namespace: str | None) -> bool:
        """Whether this release takes a record stored under ``namespace``. A replayer's copy
        takes only records labelled as one: a live record from before namespaces were kept
        (None) beside it went with it, and its payload."""
        if self.namespace == REPLAYER_NAMESPACE:
            return namespace == REPLAYER_NAMESPACE
        return self.namespace is None or namespace is None or namespace == self.namespace


@dataclass(frozen=True)
class Collected:
    owner_rows: int  # ownership pairs removed
    payloads: int  # payloads deleted (no owner left)
    bytes: int  # their stored size


def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_content_key(key: str) -> bool:
    """Whether ``key`` is a content hash as this store names payloads (64 lowercase hex)."""
    return _HEX64.fullmatch(key) is not None


def checked_key(claim: StorageDriverClaim) -> str:
    key = claim.claim_data.get(HASH_KEY, "")
    if not is_content_key(key):
        raise PayloadIntegrityError(f"a payload reference carries an invalid content hash {key!r}")
    return key


def verified(key: str, data: bytes, where: str) -> Payload:
    actual = content_key(data)
    if actual != key:
        raise PayloadIntegrityError(
            f"payload {key} in {where} does not match its content hash (the stored bytes hash "
            f"to {actual}): the copy in the store was changed or damaged"
        )
    return Payload.FromString(data)


class ContentAddressedDriver(StorageDriver):
    """Store by content hash with an owner record; read back with the hash checked."""

    @abstractmethod
    async def put_many(self, items: Sequence[tuple[str, bytes]], owner: PayloadOwner) -> None: ...

    @abstractmethod
    async def get_many(self, keys: Sequence[str]) -> list[bytes]:
        """The stored bytes for each key; PayloadMissing names the first one not there."""

    @abstractmethod
    async def sizes(self, keys: Sequence[str]) -> dict[str, int]:
        """The stored size in bytes of each key the store holds (the others left out)."""

    @abstractmethod
    async def payloads_of(self, owner_id: str) -> set[str]:
        """The content hashes stored for a workflow id (for erasure and garbage collection)."""

    @abstractmethod
    async def erase_owned_by(self, workflow_id: str, namespace: str | None = None) -> int:
        """Erasure on request: forget that this workflow and its children (ids starting with
        ``<workflow_id>/``) own payloads, and delete every payload no other workflow owns.
        With ``namespace``, only that namespace's owners (and those recorded before owners had
        one): a store shared by namespaces keeps another namespace's workflow of the same id.
        Returns how many payloads were deleted."""

    @abstractmethod
    async def ownership(self) -> list[Ownership]:
        """The whole ownership record (for garbage collection)."""

    async def clock(self) -> datetime:
        """The time by the clock that writes ``last_stored_at`` (garbage collection's cutoff
        is taken from it: a command on a host whose clock ran ahead released payloads that a
        workflow task was storing). This machine's, for a store it writes itself."""
        return datetime.now(UTC)

    @abstractmethod
    async def collect(self, releases: Sequence[Release]) -> Collected:
        """Remove the released ownership pairs, then delete each of their payloads that no
        owner holds any more. A store that races with this (the same payload stored again by
        any workflow) either keeps the payload or fails and is retried by Temporal: a payload
        a history refers to is never deleted from under it."""

    @abstractmethod
    def describe(self) -> str: ...

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        items = []
        for payload in payloads:
            # On the worker's event loop: megabytes are serialized and hashed in a thread.
            items.append(await in_thread_if(payload.ByteSize() > IN_THREAD_BYTES, _keyed, payload))
        await self.put_many(items, owner_of(context))
        return [
            StorageDriverClaim(claim_data={HASH_KEY: key, SIZE_KEY: str(len(data))})
            for key, data in items
        ]

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        keys = [checked_key(claim) for claim in claims]
        limit = _READ_LIMIT.get()
        if limit is not None:
            stored = sum((await self.sizes(keys)).values())
            if stored > limit:
                raise PayloadTooLarge(
                    f"{len(keys)} stored payload(s) of {stored:,} bytes, over the {limit:,} "
                    "this read may take"
                )
        found = await self.get_many(keys)
        where = self.describe()
        return [
            await in_thread_if(len(data) > IN_THREAD_BYTES, verified, key, data, where)
            for key, data in zip(keys, found, strict=True)
        ]


# Payloads larger than this are serialized, hashed and parsed in a thread.
IN_THREAD_BYTES = LARGE_PAYLOAD_BYTES


def _keyed(payload: Payload) -> tuple[str, bytes]:
    data = payload.SerializeToString()
    return content_key(data), data


def missing(key: str, where: str, hint: str) -> PayloadMissing:
    return PayloadMissing(f"payload {key} is not in {where}: {hint}")
