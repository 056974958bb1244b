"""The claim-check files of the project's first payload store, read only: histories recorded
before the SDK's external storage still refer to them (docs/payloads.md).

``PayloadStore`` is that store's interface (put bytes under a key, get them back), ``FileStore``
its files under the data directory. New payloads go through the SDK's external storage instead:
a ``StorageDriver`` (``shared.stores.payloads.ContentAddressedDriver``: files on one machine,
a PostgreSQL table for a cluster), handed to ``shared.data_converter.data_converter(driver=...)``.
"""

import asyncio
import contextlib
from abc import ABC, abstractmethod
from pathlib import Path

from shared.private_files import durable_write, private_dir


class PayloadStoreError(Exception):
    pass


class PayloadStore(ABC):
    @abstractmethod
    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``. Keys are content hashes: putting twice is harmless."""

    @abstractmethod
    async def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; raises PayloadStoreError if there are none."""

    def describe(self) -> str:
        return type(self).__name__


class FileStore(PayloadStore):
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise PayloadStoreError(f"invalid payload key {key!r}")
        return self.root / key[:2] / key

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            # Content-addressed: same key, same bytes, nothing to write (a read costs less than
            # a synced write). Cut short (a power cut before an earlier version synced it) or
            # changed in place (a disk's bad block): written again, or every later store of the
            # payload kept the damaged file and every read failed its hash check.
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                return
        private_dir(path.parent)
        # Written to a temporary file and renamed, so a reader never sees half a payload; synced,
        # so a history that names the payload never outlives its bytes.
        durable_write(path, data)

    def _get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise PayloadStoreError(
                f"payload {key} is not in {self.root}: is this process using the same payload "
                "store (TICKETS_DATA_DIR) as the one that wrote it?"
            ) from None

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def size(self, key: str) -> int | None:
        """The stored payload's size in bytes, None when it is not here (nothing is read)."""

        def stat() -> int | None:
            try:
                return self._path(key).stat().st_size
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(stat)

    def describe(self) -> str:
        return f"files under {self.root}"
