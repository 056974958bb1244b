"""The claim-check codec: big payloads go to the store and come back; small ones stay."""

from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from shared.data_converter import ENCODING, ClaimCheckCodec
from shared.payload_store import FileStore, PayloadStoreError


def payload(size: int) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=b"x" * size)


async def test_a_payload_over_the_threshold_is_replaced_by_a_reference_and_restored(
    tmp_path: Path,
) -> None:
    codec = ClaimCheckCodec(FileStore(tmp_path), threshold=1_000)
    small, big = payload(10), payload(1_000_000)

    encoded = await codec.encode([small, big])

    assert encoded[0] == small
    assert encoded[1].metadata["encoding"] == ENCODING
    assert len(encoded[1].SerializeToString()) < 200
    assert len(list(tmp_path.rglob("*"))) == 2  # one directory, one file
    assert await codec.decode(encoded) == [small, big]


async def test_the_same_payload_twice_is_stored_once(tmp_path: Path) -> None:
    codec = ClaimCheckCodec(FileStore(tmp_path), threshold=100)
    first = await codec.encode([payload(5_000)])
    second = await codec.encode([payload(5_000)])
    assert first == second
    assert sum(p.is_file() for p in tmp_path.rglob("*")) == 1


async def test_a_reference_the_store_does_not_hold_names_the_store(tmp_path: Path) -> None:
    writer = ClaimCheckCodec(FileStore(tmp_path / "here"), threshold=100)
    reader = ClaimCheckCodec(FileStore(tmp_path / "elsewhere"), threshold=100)
    encoded = await writer.encode([payload(5_000)])
    with pytest.raises(PayloadStoreError, match=r"is not in .*elsewhere.*TICKETS_DATA_DIR"):
        await reader.decode(encoded)


def test_keys_cannot_reach_outside_the_store(tmp_path: Path) -> None:
    with pytest.raises(PayloadStoreError, match="invalid payload key"):
        FileStore(tmp_path)._path("../../etc/passwd")
