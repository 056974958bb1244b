"""The data converter every client and worker uses: pydantic JSON, plus large payloads stored
outside the history.

Temporal limits a payload to 2 MB and a history to 50 MB; a long agent output or the results of a
swarm would hit that. ``ClaimCheckCodec`` swaps any payload above ``threshold`` bytes for a small
reference to a ``PayloadStore`` entry (keyed by its SHA-256), and swaps it back when read. Workflow
and activity code never see the difference; the Web UI shows the reference.
"""

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from shared.payload_store import FileStore, PayloadStore

ENCODING: Final = b"binary/claim-check"
# Well under the 2 MB payload limit, well above any ticket: only big outputs move out.
DEFAULT_THRESHOLD: Final = 128 * 1024


class ClaimCheckCodec(PayloadCodec):
    def __init__(self, store: PayloadStore, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.store = store
        self.threshold = threshold

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            data = payload.SerializeToString()
            if len(data) <= self.threshold:
                out.append(payload)
                continue
            key = hashlib.sha256(data).hexdigest()
            await self.store.put(key, data)
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, "claim-check-key": key.encode()},
                    data=f"{len(data)} bytes in the payload store".encode(),
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            original = Payload()
            original.ParseFromString(
                await self.store.get(payload.metadata["claim-check-key"].decode())
            )
            out.append(original)
        return out


def default_store(data_dir: Path | None = None) -> FileStore:
    root = data_dir if data_dir is not None else Path(os.environ.get("TICKETS_DATA_DIR") or "data")
    return FileStore(root.resolve() / "payloads")


def data_converter(
    store: PayloadStore | None = None, threshold: int | None = None
) -> DataConverter:
    if threshold is None:
        threshold = int(os.environ.get("TICKETS_PAYLOAD_OFFLOAD_BYTES") or DEFAULT_THRESHOLD)
    codec = ClaimCheckCodec(store or default_store(), threshold)
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)
