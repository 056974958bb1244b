"""The data converter every client and worker uses: pydantic JSON, the payload codecs, and large
payloads stored outside the history.

Temporal limits a payload to 2 MB and a history to 50 MB; a long agent output or the results of a
swarm would hit that. Payloads of ``TICKETS_PAYLOAD_OFFLOAD_BYTES`` (128 KiB) or more go to the
payload store through the SDK's external storage (``ExternalStorage`` with the drivers of
``shared.stores``: PostgreSQL when ``TICKETS_DATABASE_URL`` is set, files under the data directory
otherwise); only a reference stays in the history. The SDK encodes in the order payload converter
-> payload codecs -> external storage, so what is stored is the codecs' output: an encryption codec
added to ``payload_codecs`` encrypts a payload before it leaves the history (docs/payloads.md).

References written by the earlier claim-check codec (encoding ``binary/claim-check``) still read:
``LegacyClaimCheckDecoder`` stays in the codec chain, decode-only.

Encryption: when a key ring is configured (``shared.encryption.keyring``: TICKETS_ENCRYPTION_KEYS,
TICKETS_ENCRYPTION_KEY_FILE or the data directory's key file that ``make run`` creates), the
AES-256-GCM codec is the chain's outermost codec, and failures carry their message and stack trace
as an encoded (so encrypted) payload. Payloads written without it still decode (docs/privacy.md).
"""

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Final, Literal

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    ExternalStorage,
    PayloadCodec,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverSelectContext,
    StorageDriverStoreContext,
)

from shared.encryption.codec import EncryptionCodec, NoKeyRing
from shared.encryption.keyring import KeyRing, load_key_ring
from shared.off_loop import LARGE_PAYLOAD_BYTES, in_thread_if
from shared.payload_converter import SharedPydanticPayloadConverter
from shared.payload_store import FileStore, PayloadStore
from shared.stores.config import StoreConfig
from shared.stores.errors import PayloadIntegrityError, PayloadMissing, PayloadTooLarge
from shared.stores.factory import payload_driver
from shared.stores.payloads import POSTGRES_DRIVER_NAME as POSTGRES_DRIVER
from shared.stores.payloads import ContentAddressedDriver, is_content_key, read_limit, verified
from shared.stores.payloads_file import FilePayloadDriver

LEGACY_ENCODING: Final = b"binary/claim-check"


class LegacyClaimCheckDecoder(PayloadCodec):
    """Reads the references of the claim-check codec this project used before external storage
    (payloads under ``<data dir>/payloads``); encodes nothing."""

    def __init__(self, store: PayloadStore) -> None:
        self.store = store

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != LEGACY_ENCODING:
                out.append(payload)
                continue
            key = payload.metadata["claim-check-key"].decode()
            if not is_content_key(key):  # the codec named files by their SHA-256, nothing else
                raise PayloadIntegrityError(
                    f"a payload reference carries an invalid content hash {key[:80]!r}"
                )
            # Checked as the storage driver checks its payloads: the bytes found must be the
            # ones the reference was made for (a damaged or changed file is said, not parsed).
            # Within a reader's limit (the codec server's budget per request) by the stored
            # size, before anything is read: a 127 MiB file was read whole, then dropped.
            limit = read_limit()
            if limit is not None and isinstance(self.store, FileStore):
                size = await self.store.size(key)
                if size is not None and size > limit:
                    raise PayloadTooLarge(
                        f"a stored payload of {size:,} bytes, over the {limit:,} this read may take"
                    )
            # Hashed and parsed off the event loop when large, as the drivers do theirs
            # (off_loop.py: a 127 MiB one held a worker's loop for about 300 ms).
            data = await self.store.get(key)
            out.append(
                await in_thread_if(
                    len(data) > LARGE_PAYLOAD_BYTES, verified, key, data, self.store.describe()
                )
            )
        return out


class CodecChain(PayloadCodec):
    """Several codecs as one: encode in order, decode in reverse order."""

    def __init__(self, codecs: Sequence[PayloadCodec]) -> None:
        self.codecs = list(codecs)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in self.codecs:
            out = await codec.encode(out)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        given = list(payloads)
        out = list(given)
        for codec in reversed(self.codecs):
            if not isinstance(codec, LegacyClaimCheckDecoder):
                out = await codec.decode(out)
                continue
            # Old references were never encrypted: one another codec's decode brought out (a
            # reference someone had encrypted through the codec server's /encode) is left as
            # it is. Resolved, it was read past the codec server's limit on what one request
            # may read, its budget never charged: 2,000 copies of one read 2,000 files.
            fresh = [i for i, (now, sent) in enumerate(zip(out, given, strict=True)) if now is sent]
            resolved = await codec.decode([out[i] for i in fresh])
            for i, payload in zip(fresh, resolved, strict=True):
                out[i] = payload
        return out


def payload_codecs(config: StoreConfig, ring: KeyRing | None = None) -> list[PayloadCodec]:
    """The codec chain, outermost last. The encryption codec goes after the legacy decoder: its
    output is what external storage stores; legacy references were never encrypted, and each
    codec passes through payloads of encodings it does not know."""
    codecs: list[PayloadCodec] = [LegacyClaimCheckDecoder(FileStore(config.payload_dir))]
    if ring is not None:
        codecs.append(EncryptionCodec(ring))
    else:
        codecs.append(NoKeyRing())
    return codecs


class UnconfiguredDatabaseDriver(StorageDriver):
    """Stands for the PostgreSQL driver in a process without TICKETS_DATABASE_URL: a reference
    to a payload stored there gets a sentence saying what to set, not "no driver found"."""

    def name(self) -> str:
        return POSTGRES_DRIVER

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        raise PayloadMissing("no database is configured to store payloads in")

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        raise PayloadMissing(
            "this history refers to payloads stored in PostgreSQL, and this process has no "
            "TICKETS_DATABASE_URL: set it to the database the workers use"
        )


def external_storage(config: StoreConfig, driver: StorageDriver | None = None) -> ExternalStorage:
    """``driver`` stores. The other kind is registered for reading only: on a cluster worker, the
    data directory's files (payloads this machine stored before it joined the cluster still
    read); without a database, a stand-in that says TICKETS_DATABASE_URL is missing."""
    # A converter's own driver only reads and offloads payloads: it runs no DDL on the database
    # (the replay gate reads production with the next release's code; the codec server may
    # have a role that cannot create tables). The worker passes its migrated stores' driver.
    primary = driver or payload_driver(config, migrates=False)
    drivers: list[StorageDriver] = [primary]
    if isinstance(primary, FilePayloadDriver):
        drivers.append(UnconfiguredDatabaseDriver())
    else:
        drivers.append(FilePayloadDriver(config.payload_dir))

    def select(context: StorageDriverSelectContext, payload: Payload) -> StorageDriver:
        return primary

    return ExternalStorage(
        drivers=drivers, driver_selector=select, payload_size_threshold=config.offload_bytes
    )


def data_converter(
    driver: StorageDriver | None = None,
    *,
    threshold: int | None = None,
    env: Mapping[str, str] | None = None,
    key_ring: KeyRing | Literal["from-env"] | None = "from-env",
) -> DataConverter:
    """The converter for every client, worker, test environment, Replayer and the codec server.
    ``driver`` overrides the payload store the environment names (the worker passes the one it
    opened); ``key_ring`` overrides the ring the environment names (None: no encryption)."""
    env = os.environ if env is None else env
    config = StoreConfig.from_env(env)
    if threshold is not None:
        config = dataclasses.replace(config, offload_bytes=threshold)
    ring = load_key_ring(env) if key_ring == "from-env" else key_ring
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=SharedPydanticPayloadConverter,
        payload_codec=CodecChain(payload_codecs(config, ring)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        external_storage=external_storage(config, driver),
    )


def reading_only(converter: DataConverter) -> DataConverter:
    """The same converter, except that it never stores a payload: large payloads stay inline.

    For the ``Replayer``: replaying encodes every command the workflow code makes again, and with
    external storage that stores each large payload again (under a new hash, as encryption makes
    new ciphertext), for commands nobody sends anywhere. References in the history still read."""
    storage = converter.external_storage
    if storage is None:
        return converter

    def never(context: StorageDriverSelectContext, payload: Payload) -> StorageDriver | None:
        return None

    return dataclasses.replace(
        converter, external_storage=dataclasses.replace(storage, driver_selector=never)
    )


def payload_driver_of(converter: DataConverter) -> ContentAddressedDriver | None:
    """The payload store a converter built here stores large payloads in (None: none), as the
    scheduled payload collection finds its worker's (activities/payload_gc.py)."""
    storage = converter.external_storage
    if storage is None or not storage.drivers:
        return None
    primary = storage.drivers[0]  # external_storage() puts the storing driver first
    return primary if isinstance(primary, ContentAddressedDriver) else None


def key_ring_of(converter: DataConverter) -> KeyRing | None:
    """The key ring a converter built here encrypts with (None: it does not encrypt)."""
    chain = converter.payload_codec
    if isinstance(chain, CodecChain):
        for codec in chain.codecs:
            if isinstance(codec, EncryptionCodec):
                return codec.ring
    return None


def fairness_secret(converter: DataConverter) -> bytes | None:
    """The secret fairness keys are made with (policy.priority.fairness_key): derived from the
    key ring, so keys stored in plain text in histories name no customer to anyone without it.
    None when this converter does not encrypt."""
    ring = key_ring_of(converter)
    return ring.derived_key("temporal-fairness-key") if ring is not None else None


def describe_encryption(converter: DataConverter) -> str:
    """One line for start-up output: what protects payloads (key ids, never keys)."""
    return describe_key_ring(key_ring_of(converter))


def describe_key_ring(ring: KeyRing | None) -> str:
    """The same line for a process that has a ring (or none) but no converter yet."""
    if ring is None:
        return (
            "payload encryption OFF: ticket text is stored readable in Temporal and the payload "
            "store (set TICKETS_ENCRYPTION_KEYS or TICKETS_ENCRYPTION_KEY_FILE; docs/privacy.md)"
        )
    return f"payload encryption {ring.describe()}"
