"""Payloads as files under the data directory: the embedded default, for one machine.

The layout is the claim-check store's (``payloads/<2 hex>/<sha256>``), so payloads written by the
earlier codec and by this driver live side by side. Ownership is one JSON Lines file per workflow
id under ``payloads/owners/`` (appended, one line per payload stored for it).
"""

import asyncio
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from shared.payload_store import FileStore, PayloadStoreError
from shared.stores.payloads import ContentAddressedDriver, PayloadOwner, content_key, missing

DRIVER_NAME: Final = "files"


class FilePayloadDriver(ContentAddressedDriver):
    def __init__(self, root: Path) -> None:
        self.root = root
        self._files = FileStore(root)

    def name(self) -> str:
        return DRIVER_NAME

    def describe(self) -> str:
        return f"files under {self.root}"

    def _owner_file(self, owner_id: str) -> Path:
        digest = content_key(owner_id.encode("utf-8"))
        return self.root / "owners" / digest[:2] / f"{digest}.jsonl"

    def _put_many(self, items: Sequence[tuple[str, bytes]], owner: PayloadOwner) -> None:
        lines = []
        for key, data in items:
            self._files._put(key, data)
            record = {
                "sha256": key,
                "owner_id": owner.id,
                "owner_kind": owner.kind,
                "owner_type": owner.type,
                "run_id": owner.run_id,
                "stored_at": datetime.now(UTC).isoformat(),
            }
            lines.append(json.dumps(record, separators=(",", ":")) + "\n")
        path = self._owner_file(owner.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One write with O_APPEND: concurrent writers on this machine never interleave a line.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, "".join(lines).encode("utf-8"))
        finally:
            os.close(fd)

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
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["owner_id"] == owner_id:
                keys.add(record["sha256"])
        return keys

    def _erase_owned_by(self, workflow_id: str) -> int:
        # Owner files are named by a hash of the owner id, so children (``<id>/...``) are found
        # by reading every owner file; erasure is rare, and this is one pass over small files.
        mine: set[str] = set()
        others: set[str] = set()
        doomed: list[Path] = []
        for path in (self.root / "owners").rglob("*.jsonl"):
            records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
            owned = any(
                r["owner_id"] == workflow_id or r["owner_id"].startswith(f"{workflow_id}/")
                for r in records
            )
            (mine if owned else others).update(r["sha256"] for r in records)
            if owned:
                doomed.append(path)
        deleted = 0
        for key in mine - others:
            try:
                (self.root / key[:2] / key).unlink()
                deleted += 1
            except FileNotFoundError:
                pass
        for path in doomed:
            path.unlink(missing_ok=True)
        return deleted

    async def erase_owned_by(self, workflow_id: str) -> int:
        return await asyncio.to_thread(self._erase_owned_by, workflow_id)

    async def put_many(self, items: Sequence[tuple[str, bytes]], owner: PayloadOwner) -> None:
        await asyncio.to_thread(self._put_many, items, owner)

    async def get_many(self, keys: Sequence[str]) -> list[bytes]:
        return await asyncio.to_thread(self._get_many, keys)

    async def payloads_of(self, owner_id: str) -> set[str]:
        return await asyncio.to_thread(self._payloads_of, owner_id)
