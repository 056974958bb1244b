"""A payload's key id is anyone's to write (a signal's sender needs no key): the errors that name
it quote it short. A megabyte id was a megabyte message, kept whole by the worker's log filter
(the error's own words) at every retry of the workflow task."""

import os

import pytest
from temporalio.api.common.v1 import Payload

from shared.encryption.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    NoKeyRing,
    UnknownEncryptionKey,
)
from shared.encryption.keyring import KeyRing
from shared.log_privacy import own_words


def forged(key_id: bytes) -> Payload:
    return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id}, data=b"0" * 40)


async def test_an_unknown_key_id_is_quoted_short_by_both_codecs() -> None:
    codec = EncryptionCodec(KeyRing("k1", {"k1": os.urandom(32)}))
    huge = forged(b"x" * 100_000)
    with pytest.raises(UnknownEncryptionKey) as unknown:
        codec.decrypt(huge)
    with pytest.raises(UnknownEncryptionKey) as no_ring:
        await NoKeyRing().decode([huge])
    for err in (unknown.value, no_ring.value):
        assert len(str(err)) < 600 and len(own_words(err)) < 600
        assert "(100,000 bytes)" in str(err)
    # An id of the ring's own length is quoted whole.
    with pytest.raises(UnknownEncryptionKey, match="'k2'"):
        codec.decrypt(forged(b"k2"))
