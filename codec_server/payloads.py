"""What the codec server does to payloads: the project's own data converter, applied the way the
SDK applies it, one payload at a time so one that cannot be read leaves the others readable.

Decode resolves an external-storage reference first (the payload store must be reachable with
the same TICKETS_DATABASE_URL / data directory as the workers; if it is not, the reference is
shown as it is), then runs the codec chain (decryption, legacy claim checks). Encode (what the UI
uses to send a signal or start a workflow) runs the codec chain only.
"""

import logging
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

log = logging.getLogger("codec_server")


async def _resolve_reference(converter: DataConverter, payload: Payload) -> Payload:
    if converter.external_storage is None:
        return payload
    try:
        # The SDK's own retrieval step (the one DataConverter.decode runs before the codec).
        [resolved] = await converter._external_retrieve_payload_sequence([payload])
    except Exception as err:  # one payload's trouble never fails the others
        log.warning("a stored payload could not be resolved: %s", _described(err))
        return payload
    return resolved


def _described(err: Exception) -> str:
    """The error's kind and message (the project's errors name keys, ids and stores, never
    plaintext), cut short."""
    return f"{type(err).__name__}: {str(err)[:300]}"


# What one decode request may bring back from the payload store, in bytes: its body is at most
# 16 MiB, but that holds tens of thousands of references, each to a payload of megabytes.
# References past this are answered as they are stored (the UI shows them as references).
MAX_RESOLVED_BYTES = 64 * 1024 * 1024


async def decode_payloads(converter: DataConverter, payloads: Sequence[Payload]) -> list[Payload]:
    out = []
    left = MAX_RESOLVED_BYTES
    for stored in payloads:
        payload = await _resolve_reference(converter, stored) if left > 0 else stored
        if payload is not stored:
            left -= payload.ByteSize()
            if left < 0:
                log.warning("a decode request resolved over %d bytes: the rest stay references",
                            MAX_RESOLVED_BYTES)  # fmt: skip
                payload = stored
        if converter.payload_codec is not None:
            try:
                [payload] = await converter.payload_codec.decode([payload])
            except Exception as err:  # the UI shows this one as it is stored
                log.warning("a payload was left encoded: %s", _described(err))
        out.append(payload)
    return out


async def encode_payloads(converter: DataConverter, payloads: Sequence[Payload]) -> list[Payload]:
    if converter.payload_codec is None:
        return list(payloads)
    return await converter.payload_codec.encode(list(payloads))
