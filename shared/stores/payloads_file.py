"""Payloads as files under the data directory: the embedded default, for one machine.

The layout is the claim-check store's (``payloads/<2 hex>/<sha256>``), so payloads written by the
earlier codec and by this driver live side by side. Ownership is one JSON Lines file per workflow
id under ``payloads/owners/`` (appended, one line per payload stored for it).

Processes on this machine share the folder: storing takes a shared lock on
``payloads/owners/.lock``, erasure and garbage collection an exclusive one, so a payload is never
deleted between a store writing its file and recording its owner. A store waits for the lock
at most ``STORE_LOCK_TIMEOUT`` (an erasure or a collection holds it for a whole pass over the
owner files), then raises StoreBusy: a workflow task's default timeout is 10 s, so past it the
task timed out with no reason in its history, and every waiting store held a thread of the
worker's pool. Erasure and collection wait for the lock as long as it takes (commands run by a
person), blocking in the kernel, which wakes them the moment the last store lets go.
"""

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from shared.payload_store import FileStore, PayloadStoreError
from shared.private_files import durable_write, private_dir, sync_dir
from shared.stores.errors import StoreBusy
from shared.stores.legacy_files import legacy_keys
from shared.stores.payloads import (
    Collected,
    ContentAddressedDriver,
    Ownership,
    PayloadOwner,
    Release,
    content_key,
    missing,
)

DRIVER_NAME: Final = "files"
# How long a store waits for an erasure or a collection to let go of the lock: under the
# workflow task's 10 s, so a task that stores payloads fails with this reason in its history.
STORE_LOCK_TIMEOUT: Final = 5.0
# How often a waiting store tries the lock again, at most (from 5 ms, doubling).
STORE_LOCK_RETRY_MAX: Final = 0.05


log = logging.getLogger(__name__)


def _read_records(path: Path) -> list[dict[str, Any]]:
    """An owner file's records. A line that is not one record is read for the records in it: a
    write cut short by a full disk (its store failed and was retried) left part of a record,
    and the next one stored before this version began each write on a line of its own was
    glued to it; the whole records in such a line are kept, the part skipped and said. One
    such line stopped every erasure and every garbage collection, for every customer, until
    someone mended the file by hand; skipped whole, it lost the glued record's ownership."""
    records = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line:
            continue
        try:
            found = [json.loads(line)]
        except ValueError:
            found = _records_in(line)
            log.warning(
                "%s line %d is not one ownership record (a write cut short?): %d record(s) "
                "read from it, the rest skipped",
                path,
                number,
                sum(_is_record(r) for r in found),
            )
        records.extend(r for r in found if _is_record(r))
    return records


def _is_record(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("owner_id"), str)
        and isinstance(value.get("sha256"), str)
    )


def _records_in(line: str) -> list[Any]:
    """The whole JSON objects in ``line``, each read from a "{" no earlier object covers."""
    decoder = json.JSONDecoder()
    found, at = [], line.find("{")
    while at != -1:
        try:
            value, end = decoder.raw_decode(line, at)
        except (ValueError, RecursionError):
            at = line.find("{", at + 1)
            continue
        found.append(value)
        at = line.find("{", end)
    return found


class FilePayloadDriver(ContentAddressedDriver):
    def __init__(self, root: Path, store_lock_timeout: float = STORE_LOCK_TIMEOUT) -> None:
        self.root = root
        self._files = FileStore(root)
        self._store_lock_timeout = store_lock_timeout

    def name(self) -> str:
        return DRIVER_NAME

    def describe(self) -> str:
        return f"files under {self.root}"

    def _owner_file(self, owner_id: str) -> Path:
        digest = content_key(owner_id.encode("utf-8"))
        return self.root / "owners" / digest[:2] / f"{digest}.jsonl"

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        owners = self.root / "owners"
        private_dir(owners)
        fd = os.open(owners / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if exclusive:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                self._shared(fd)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _shared(self, fd: int) -> None:
        """The shared lock, tried without blocking until ``store_lock_timeout`` has passed
        (shared holders never keep each other out: only an erasure or a collection does)."""
        deadline = time.monotonic() + self._store_lock_timeout
        pause = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreBusy(
                        f"the payload store under {self.root} is held by an erasure or a "
                        f"garbage collection (`starter erase`, `starter gc-payloads`); a store "
                        f"waited {self._store_lock_timeout:g} s for it. Temporal retries the "
                        "task; if this goes on, see whether one of those commands hangs"
                    ) from None
            time.sleep(pause)
            pause = min(pause * 2, STORE_LOCK_RETRY_MAX)

    def _put_many(self, items: Sequence[tuple[str, bytes]], owner: PayloadOwner) -> None:
        lines = []
        for key, _ in items:
            record = {
                "sha256": key,
                "owner_id": owner.id,
                "owner_kind": owner.kind,
                "owner_type": owner.type,
                "run_id": owner.run_id,
                "namespace": owner.namespace,
                "stored_at": datetime.now(UTC).isoformat(),
            }
            lines.append(json.dumps(record, separators=(",", ":")) + "\n")
        path = self._owner_file(owner.id)
        with self._locked(exclusive=False):
            for key, data in items:
                self._files._put(key, data)
            private_dir(path.parent)
            # One write with O_APPEND: concurrent writers never interleave a line. It begins
            # with a line break: a write the disk cut short (full) left a line without its end,
            # and the next record appended was glued to it, unreadable, its payload then owned
            # by nobody as far as garbage collection could tell. (Readers skip empty lines.)
            data = ("\n" + "".join(lines)).encode("utf-8")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                if os.write(fd, data) < len(data):
                    # Short only when the disk filled mid-write: the rest would be a line of
                    # its own, unreadable; the store fails instead, and its caller retries.
                    raise OSError(errno.ENOSPC, "the disk took only part of an ownership record")
                # On disk with the payloads: garbage collection deletes a payload no record
                # owns, so a record lost to a power cut would cost a running ticket its input.
                os.fsync(fd)
            finally:
                os.close(fd)
            sync_dir(path.parent)

    def _records(self) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
        for path in sorted((self.root / "owners").rglob("*.jsonl")):
            yield path, _read_records(path)

    def _ownership(self) -> list[Ownership]:
        """A row per payload, owner and namespace: merged over namespaces, a replayer's newer
        copy of the same bytes labelled the live record REPLAYER_NAMESPACE, released unchecked."""
        pairs: dict[tuple[str, str, str | None], Ownership] = {}
        for _, records in self._records():
            for r in records:
                key = (r["sha256"], r["owner_id"], r.get("namespace"))
                stored = datetime.fromisoformat(r["stored_at"])
                known = pairs.get(key)
                if known is not None and known.last_stored_at >= stored:
                    continue
                try:
                    size = (self.root / r["sha256"][:2] / r["sha256"]).stat().st_size
                except FileNotFoundError:
                    size = 0
                pairs[key] = Ownership(
                    r["sha256"], r["owner_id"], r["owner_kind"], r.get("namespace"), stored, size
                )
        return list(pairs.values())

    def _collect(self, releases: Sequence[Release]) -> Collected:
        by_pair: dict[tuple[str, str], list[Release]] = {}
        for release in releases:
            by_pair.setdefault((release.sha256, release.owner_id), []).append(release)

        def release_of(r: dict[str, Any]) -> Release | None:
            found = by_pair.get((r["sha256"], r["owner_id"]), [])
            return next((x for x in found if x.covers(r.get("namespace"))), None)

        removed = 0
        released: set[str] = set()
        remaining: set[str] = set()
        with self._locked(exclusive=True):
            kept_for_old_histories = self._legacy_keys()
            for path, records in self._records():
                # A pair goes (in the release's namespace) only if every store of it there is
                # older than its cutoff.
                matched = [(r, release_of(r)) for r in records]  # each record's release, once
                fresh = {
                    (r["sha256"], r["owner_id"], id(release))
                    for r, release in matched
                    if release is not None
                    and datetime.fromisoformat(r["stored_at"]) >= release.stored_before
                }
                keep = [
                    r
                    for r, release in matched
                    if release is None or (r["sha256"], r["owner_id"], id(release)) in fresh
                ]
                gone = {(r["sha256"], r["owner_id"], r.get("namespace")) for r in records} - {
                    (r["sha256"], r["owner_id"], r.get("namespace")) for r in keep
                }
                removed += len(gone)
                released |= {sha for sha, _, _ in gone}
                remaining |= {r["sha256"] for r in keep}
                if len(keep) != len(records):
                    self._rewrite(path, keep)
            deleted, freed = 0, 0
            for key in released - remaining - kept_for_old_histories:
                file = self.root / key[:2] / key
                try:
                    size = file.stat().st_size
                    file.unlink()
                except FileNotFoundError:
                    continue
                deleted, freed = deleted + 1, freed + size
        return Collected(removed, deleted, freed)

    def _legacy_keys(self) -> frozenset[str]:
        """The earlier claim-check codec's files, never deleted (legacy_files.py says why);
        called with the exclusive lock held."""
        return legacy_keys(self.root, (r for _, records in self._records() for r in records))

    @staticmethod
    def _rewrite(path: Path, records: list[dict[str, Any]]) -> None:
        if not records:
            path.unlink(missing_ok=True)
            return
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        durable_write(path, lines.encode("utf-8"))

    def _get_many(self, keys: Sequence[str]) -> list[bytes]:
        found = []
        for key in keys:
            try:
                found.append(self._files._get(key))
            except PayloadStoreError:
                raise missing(
                    key,
                    self.describe(),
                    "is this process using the same data directory (TICKETS_DATA_DIR) as the one "
                    "that wrote it? Workers on several machines need TICKETS_DATABASE_URL.",
                ) from None
        return found

    def _payloads_of(self, owner_id: str) -> set[str]:
        path = self._owner_file(owner_id)
        if not path.exists():
            return set()
        keys = set()
        for record in _read_records(path):
            if record["owner_id"] == owner_id:
                keys.add(record["sha256"])
        return keys

    def _erase_owned_by(self, workflow_id: str, namespace: str | None) -> int:
        with self._locked(exclusive=True):
            return self._erase_owned_by_locked(workflow_id, namespace)

    def _erase_owned_by_locked(self, workflow_id: str, namespace: str | None) -> int:
        # Owner files are named by a hash of the owner id, so children (``<id>/...``) are found
        # by reading every owner file; erasure is rare, and this is one pass over small files.
        def erased(record: dict[str, Any]) -> bool:
            owner = record["owner_id"]
            return (owner == workflow_id or owner.startswith(f"{workflow_id}/")) and (
                namespace is None or record.get("namespace") in (None, namespace)
            )

        kept_for_old_histories = self._legacy_keys()
        mine: set[str] = set()
        others: set[str] = set()
        for path in (self.root / "owners").rglob("*.jsonl"):
            records = _read_records(path)
            kept = [r for r in records if not erased(r)]
            mine.update(r["sha256"] for r in records if erased(r))
            others.update(r["sha256"] for r in kept)
            if len(kept) == len(records):
                continue
            # Another namespace's workflow of the same id keeps its records: rewritten whole
            # (a crash mid-write lost them, and a reader could meet half a line).
            self._rewrite(path, kept)
        deleted = 0
        for key in mine - others - kept_for_old_histories:
            try:
                (self.root / key[:2] / key).unlink()
                deleted += 1
            except FileNotFoundError:
                pass
        return deleted

    async def erase_owned_by(self, workflow_id: str, namespace: str | None = None) -> int:
        return await asyncio.to_thread(self._erase_owned_by, workflow_id, namespace)

    async def put_many(self, items: Sequence[tuple[str, bytes]], owner: PayloadOwner) -> None:
        await asyncio.to_thread(self._put_many, items, owner)

    async def get_many(self, keys: Sequence[str]) -> list[bytes]:
        return await asyncio.to_thread(self._get_many, keys)

    async def sizes(self, keys: Sequence[str]) -> dict[str, int]:
        return await asyncio.to_thread(self._sizes, keys)

    def _sizes(self, keys: Sequence[str]) -> dict[str, int]:
        found = {}
        for key in set(keys):
            with contextlib.suppress(FileNotFoundError):
                found[key] = self._files._path(key).stat().st_size
        return found

    async def payloads_of(self, owner_id: str) -> set[str]:
        return await asyncio.to_thread(self._payloads_of, owner_id)

    async def ownership(self) -> list[Ownership]:
        return await asyncio.to_thread(self._ownership)

    async def collect(self, releases: Sequence[Release]) -> Collected:
        return await asyncio.to_thread(self._collect, releases)
