"""AES-256-GCM payload codec with the key id in each payload's metadata.

Every data converter installs it (``shared.data_converter``), so workflow inputs, results,
activity arguments, signals, updates, queries, memos, user metadata (summaries) and failures
(their message and stack trace, through ``DefaultFailureConverterWithEncodedAttributes``) reach
the Temporal server and the payload store encrypted. Search attributes are never encoded by a
codec: only ticket metadata goes there (``shared.search_attributes``).

None is not encrypted (``NULL_ENCODING``). Payloads without this codec's encoding pass through
decode unchanged, so histories written
before encryption was turned on (and the committed replay histories) still read.
"""

import os
from collections.abc import Sequence
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from shared.encryption.keyring import KeyRing
from shared.off_loop import LARGE_PAYLOAD_BYTES, in_thread_if

# The encoding and metadata key of Temporal's encryption samples, so their tooling recognises an
# encrypted payload. The ciphertext is not theirs to decrypt: it is bound to its key id
# (``_associated_data``), which the samples' codec does not pass.
ENCODING: Final = b"binary/encrypted"
KEY_ID_METADATA: Final = "encryption-key-id"
NONCE_BYTES: Final = 12  # GCM's standard nonce; random per payload
TAG_BYTES: Final = 16  # what AES-GCM appends to the ciphertext
# None (the SDK's "binary/null", no data) is left as it is: it says nothing, and a schedule hands
# each run the last run's result, so a null encrypted under a retired key stopped every later run
# of the payload collection (docs/privacy.md, rotation).
NULL_ENCODING: Final = b"binary/null"
# Payloads larger than this are encrypted and decrypted in a thread (AES-GCM releases the GIL).
IN_THREAD_BYTES: Final = LARGE_PAYLOAD_BYTES


class UnknownEncryptionKey(LookupError):
    """A payload was encrypted with a key this process does not have (named by id only)."""


class PayloadDecryptionError(ValueError):
    """A payload did not authenticate under the key its metadata names."""


def why_undecryptable(err: UnknownEncryptionKey | PayloadDecryptionError) -> str:
    """The error's sentence, with a pointer to the likely cause where the sentence has none (a
    missing key's sentence already says which key to add)."""
    if isinstance(err, UnknownEncryptionKey):
        return str(err)
    return f"{err} (is this process using the same encryption keys as the worker? docs/privacy.md)"


def _associated_data(key_id: str) -> bytes:
    # Binds the ciphertext to its key id: relabelling a payload with another id fails to decrypt.
    return b"ticket-agents/payload/v1:" + key_id.encode("ascii")


class EncryptionCodec(PayloadCodec):
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys.items()}

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.ring.current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, payload.SerializeToString(), _associated_data(key_id)
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode("ascii")},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        key_id = said_key_id(payload)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownEncryptionKey(
                f"a payload is encrypted with key {key_id!r}, which is not in this process's key "
                f"ring (keys {', '.join(self.ring.key_ids)} from {self.ring.source}); add that "
                "key to decrypt it (docs/privacy.md: rotation)"
            )
        if len(payload.data) < NONCE_BYTES + TAG_BYTES:
            raise PayloadDecryptionError(
                f"a payload encrypted with key {key_id!r} is {len(payload.data)} bytes, shorter "
                "than a nonce and a tag: it was cut short or altered"
            )
        try:
            plain = cipher.decrypt(
                payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], _associated_data(key_id)
            )
        except InvalidTag:
            raise PayloadDecryptionError(
                f"a payload encrypted with key {key_id!r} does not authenticate: the key with that "
                "id is not the one that encrypted it, or the payload was altered"
            ) from None
        return Payload.FromString(plain)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        # On the worker's event loop: megabytes (a swarm's or a batch's items) in a thread.
        return [
            p
            if p.metadata.get("encoding") == NULL_ENCODING and not p.data and len(p.metadata) == 1
            else await in_thread_if(len(p.data) > IN_THREAD_BYTES, self.encrypt, p)
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            await in_thread_if(len(p.data) > IN_THREAD_BYTES, self.decrypt, p)
            if p.metadata.get("encoding") == ENCODING
            else p
            for p in payloads
        ]


class NoKeyRing(PayloadCodec):
    """The codec of a process with no key ring: it encrypts nothing, and an encrypted payload it
    meets is an error that says what to give it, not the payload converter's KeyError
    "Unknown payload encoding binary/encrypted" (a CLI run from another directory than the
    one whose data/ holds the ring)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for p in payloads:
            if p.metadata.get("encoding") == ENCODING:
                key_id = said_key_id(p)
                raise UnknownEncryptionKey(
                    f"a payload is encrypted with key {key_id!r} and this process has no key "
                    "ring: give it the workers' ring (TICKETS_ENCRYPTION_KEYS or "
                    "TICKETS_ENCRYPTION_KEY_FILE), or run it where the data directory holding "
                    "encryption-keys.json is (./data, or TICKETS_DATA_DIR)"
                )
        return list(payloads)


# A key id as an error quotes it: the ring's ids are short; the payload's is anyone's to write
# (a signal's sender), and a megabyte one was a megabyte log line at every retry.
MAX_SAID_KEY_ID_CHARS: Final = 80


def said_key_id(payload: Payload) -> str:
    """The payload's key id for a message: as ASCII, cut to MAX_SAID_KEY_ID_CHARS."""
    raw = payload.metadata.get(KEY_ID_METADATA, b"")
    key_id = raw[: MAX_SAID_KEY_ID_CHARS + 1].decode("ascii", errors="replace")
    if len(key_id) > MAX_SAID_KEY_ID_CHARS:
        return key_id[:MAX_SAID_KEY_ID_CHARS] + f"... ({len(raw):,} bytes)"
    return key_id
