"""The one data converter: large payloads leave the history through the SDK's external storage,
what is stored is the payload codecs' output, and references of the earlier claim-check codec
still read."""

import asyncio
import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    PayloadCodec,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)

from codec_server import payloads as codec_payloads
from shared.data_converter import (
    LEGACY_ENCODING,
    CodecChain,
    LegacyClaimCheckDecoder,
    data_converter,
)
from shared.payload_store import FileStore
from shared.stores.errors import PayloadIntegrityError, PayloadMissing
from shared.stores.payloads_file import FilePayloadDriver
from shared.stores.payloads_postgres import PostgresPayloadDriver
from shared.stores.postgres import PostgresDatabase

REFERENCE_TYPE = b"temporal.api.sdk.v1.ExternalStorageReference"


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"TICKETS_DATA_DIR": str(tmp_path), **extra}


async def test_a_large_value_leaves_the_history_and_a_small_one_stays(tmp_path: Path) -> None:
    converter = data_converter(env=env(tmp_path, TICKETS_PAYLOAD_OFFLOAD_BYTES="1000"))
    small, large = {"text": "short"}, {"text": "x" * 50_000}

    encoded = await converter.encode([small, large])

    assert encoded[0].metadata["encoding"] == b"json/plain"
    assert encoded[1].metadata.get("messageType") == REFERENCE_TYPE
    assert encoded[1].ByteSize() < 500
    assert list((tmp_path / "payloads").rglob("*"))  # stored under the data directory
    assert await converter.decode(encoded, [dict, dict]) == [small, large]


async def test_the_threshold_defaults_to_128_kib(tmp_path: Path) -> None:
    converter = data_converter(env=env(tmp_path))
    below, above = "x" * (120 * 1024), "x" * (130 * 1024)
    encoded = await converter.encode([below, above])
    assert encoded[0].metadata["encoding"] == b"json/plain"
    assert encoded[1].metadata.get("messageType") == REFERENCE_TYPE


class XorCodec(PayloadCodec):
    """Stands in for an encryption codec: its output must be what the store keeps."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={"encoding": b"binary/xor"},
                data=bytes(b ^ 0x5A for b in p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != b"binary/xor":
                out.append(p)
                continue
            out.append(Payload.FromString(bytes(b ^ 0x5A for b in p.data)))
        return out


async def test_what_is_stored_is_the_codec_output_so_encryption_applies_first(
    tmp_path: Path,
) -> None:
    driver = FilePayloadDriver(tmp_path / "payloads")
    base = data_converter(driver, threshold=1000, env=env(tmp_path))
    codecs = CodecChain([LegacyClaimCheckDecoder(FileStore(tmp_path / "payloads")), XorCodec()])
    converter = dataclasses.replace(base, payload_codec=codecs)
    secret = "customer secret " * 1000

    encoded = await converter.encode([secret])

    stored = [
        p for p in (tmp_path / "payloads").rglob("*") if p.is_file() and "owners" not in p.parts
    ]
    assert len(stored) == 1
    assert b"customer secret" not in stored[0].read_bytes()
    assert await converter.decode(encoded, [str]) == [secret]


async def test_a_reference_written_by_the_old_claim_check_codec_still_reads(tmp_path: Path) -> None:
    """As the earlier codec wrote them: the serialized payload in payloads/<2>/<sha256>, and a
    reference payload with encoding binary/claim-check in the history."""
    original = (await data_converter(env=env(tmp_path)).encode(["an old, long agent output"]))[0]
    data = original.SerializeToString()
    key = hashlib.sha256(data).hexdigest()
    await FileStore(tmp_path / "payloads").put(key, data)
    reference = Payload(
        metadata={"encoding": LEGACY_ENCODING, "claim-check-key": key.encode()},
        data=f"{len(data)} bytes in the payload store".encode(),
    )

    converter = data_converter(env=env(tmp_path))
    assert await converter.decode([reference], [str]) == ["an old, long agent output"]


@pytest.mark.parametrize(("size", "in_thread"), [(2 * 1024 * 1024, True), (1_000, False)])
async def test_a_large_old_claim_check_is_hashed_and_parsed_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, in_thread: bool
) -> None:
    """As the drivers do theirs (shared/off_loop.py): a history from before the upgrade that holds
    a multi-MiB claim check held a worker's loop while it was hashed and parsed."""
    import threading

    import shared.data_converter as converter_module

    # Made by hand: the converter of today would store a value this large by reference.
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'"' + b"x" * size + b'"')
    data = original.SerializeToString()
    key = hashlib.sha256(data).hexdigest()
    await FileStore(tmp_path / "payloads").put(key, data)
    reference = Payload(
        metadata={"encoding": LEGACY_ENCODING, "claim-check-key": key.encode()},
        data=f"{len(data)} bytes in the payload store".encode(),
    )
    threads: list[int] = []
    real = converter_module.verified

    def watched(*args: Any) -> Payload:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(converter_module, "verified", watched)
    decoder = LegacyClaimCheckDecoder(FileStore(tmp_path / "payloads"))
    [payload] = await decoder.decode([reference])

    assert payload == original
    assert (threads != [threading.get_ident()]) is in_thread and len(threads) == 1


@pytest.mark.parametrize(
    ("stored", "key", "said"),
    [
        pytest.param(b"changed", None, "does not match its content hash", id="changed-bytes"),
        pytest.param(None, "../../etc/passwd", "invalid content hash", id="not-a-hash"),
    ],
)
async def test_an_old_claim_checks_bytes_are_checked_against_its_hash(
    tmp_path: Path, stored: bytes | None, key: str | None, said: str
) -> None:
    # The storage driver checked its payloads' hashes; the old codec's references were read as
    # whatever bytes the file held (a damaged or changed file parsed into another value).
    original = (await data_converter(env=env(tmp_path)).encode(["an old, long agent output"]))[0]
    data = original.SerializeToString()
    real_key = hashlib.sha256(data).hexdigest()
    await FileStore(tmp_path / "payloads").put(real_key, data)
    if stored is not None:
        (tmp_path / "payloads" / real_key[:2] / real_key).write_bytes(stored)
    reference = Payload(
        metadata={"encoding": LEGACY_ENCODING, "claim-check-key": (key or real_key).encode()},
        data=f"{len(data)} bytes in the payload store".encode(),
    )

    with pytest.raises(PayloadIntegrityError, match=said):
        await data_converter(env=env(tmp_path)).decode([reference], [str])


async def test_a_cluster_worker_still_reads_what_its_machine_stored_as_files(
    tmp_path: Path, database: PostgresDatabase
) -> None:
    before = data_converter(env=env(tmp_path), threshold=1000)
    encoded = await before.encode(["y" * 5_000])  # stored as files, before the database

    after = data_converter(PostgresPayloadDriver(database), threshold=1000, env=env(tmp_path))
    assert await after.decode(encoded, [str]) == ["y" * 5_000]
    new = await after.encode(["z" * 5_000])  # and stores new ones in the database
    async with database.connection() as conn:
        cursor = await conn.execute("SELECT count(*) FROM payloads")
        assert await cursor.fetchone() == (1,)
    assert await after.decode(new, [str]) == ["z" * 5_000]


async def test_the_store_records_the_workflow_a_payload_belongs_to(tmp_path: Path) -> None:
    """Workers bind the owning workflow as the store context (the SDK does it); so does this."""
    driver = FilePayloadDriver(tmp_path / "payloads")
    converter = data_converter(driver, threshold=1000, env=env(tmp_path))
    storage = converter.external_storage
    assert storage is not None
    owned = dataclasses.replace(
        converter,
        external_storage=storage._with_store_context(
            StorageDriverStoreContext(
                target=StorageDriverWorkflowInfo(namespace="default", id="ticket-T-9")
            )
        ),
    )
    await owned.encode(["w" * 5_000])
    assert len(await driver.payloads_of("ticket-T-9")) == 1


async def test_a_process_without_the_database_url_says_so_when_a_history_needs_it(
    tmp_path: Path, database: PostgresDatabase
) -> None:
    cluster = data_converter(PostgresPayloadDriver(database), threshold=1000, env=env(tmp_path))
    encoded = await cluster.encode(["q" * 5_000])
    alone = data_converter(env=env(tmp_path / "elsewhere"), threshold=1000)
    with pytest.raises(PayloadMissing, match="has no TICKETS_DATABASE_URL"):
        await alone.decode(encoded, [str])


def count_fetches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many payloads the payload store is asked for from now on (one number, kept up to
    date in the list)."""
    fetched = [0]
    retrieve = DataConverter._external_retrieve_payload_sequence

    async def counted(self: DataConverter, payloads: Any) -> Any:
        fetched[0] += len(payloads)
        return await retrieve(self, payloads)

    monkeypatch.setattr(DataConverter, "_external_retrieve_payload_sequence", counted)
    return fetched


async def test_the_codec_server_resolves_references_up_to_its_byte_budget_per_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 16 MiB request can hold tens of thousands of references to one large payload: the
    answer would be gigabytes. Past the budget, references are answered as stored."""
    converter = data_converter(env=env(tmp_path, TICKETS_PAYLOAD_OFFLOAD_BYTES="1000"))
    [reference] = await converter.encode([{"text": "x" * 50_000}])
    monkeypatch.setattr(codec_payloads, "MAX_RESOLVED_BYTES", 120_000)
    fetched = count_fetches(monkeypatch)
    resolved_first = await codec_payloads.resolve_references(converter, [reference] * 5)
    answered = await asyncio.to_thread(codec_payloads.decode_in_thread, converter, resolved_first)

    resolved = [p for p in answered if p.metadata.get("messageType") != REFERENCE_TYPE]
    assert len(resolved) == 2 and all(len(p.data) > 50_000 for p in resolved)
    assert answered[2:] == [reference] * 3
    # The third is not fetched to be dropped: its reference says its size.
    assert fetched == [2]


async def test_a_reference_declaring_a_false_size_is_not_read_past_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size a reference declares is the caller's: one declaring 1 byte for a payload over
    the request's budget was read, hashed and parsed whole, then dropped (four requests at once
    each pulled in the store's largest payload)."""
    converter = data_converter(env=env(tmp_path, TICKETS_PAYLOAD_OFFLOAD_BYTES="1000"))
    [reference] = await converter.encode([{"text": "x" * 50_000}])
    liar = Payload()
    liar.CopyFrom(reference)
    for external in liar.external_payloads:
        external.size_bytes = 1
    monkeypatch.setattr(codec_payloads, "MAX_RESOLVED_BYTES", 10_000)
    read: list[int] = []
    real = FilePayloadDriver._get_many

    def counted(self: FilePayloadDriver, keys: Any) -> list[bytes]:
        read.append(len(keys))
        return real(self, keys)

    monkeypatch.setattr(FilePayloadDriver, "_get_many", counted)
    budget = codec_payloads.ByteBudget()
    assert await codec_payloads.resolve_references(converter, [liar], budget) == [liar]
    assert read == [] and budget.over
    # Within the budget it is read as before.
    monkeypatch.setattr(codec_payloads, "MAX_RESOLVED_BYTES", 100_000)
    [resolved] = await codec_payloads.resolve_references(converter, [liar])
    assert resolved != liar and read == [1]


async def test_a_reference_declaring_no_size_is_not_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK finds a reference from its data alone: one whose externalPayloads size was left
    out was fetched, hashed and parsed whatever its size, then dropped over the budget."""
    converter = data_converter(env=env(tmp_path, TICKETS_PAYLOAD_OFFLOAD_BYTES="1000"))
    [reference] = await converter.encode([{"text": "x" * 50_000}])
    stripped = Payload()
    stripped.CopyFrom(reference)
    del stripped.external_payloads[:]
    monkeypatch.setattr(codec_payloads, "MAX_RESOLVED_BYTES", 1_000)
    fetched = count_fetches(monkeypatch)
    assert await codec_payloads.resolve_references(converter, [stripped]) == [stripped]
    assert fetched == [0]
    # A payload that is no reference still goes through (it has nothing to fetch).
    [plain] = await data_converter(env=env(tmp_path)).encode([{"text": "short"}])
    assert await codec_payloads.resolve_references(converter, [plain]) == [plain]
