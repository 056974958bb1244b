"""What the codec server does to payloads: the project's own data converter, applied the way the
SDK applies it, one payload at a time so one that cannot be read leaves the others readable.

Decode resolves an external-storage reference first (the payload store must be reachable with
the same TICKETS_DATABASE_URL / data directory as the workers; if it is not, the reference is
shown as it is), then runs the codec chain (decryption, legacy claim checks). Encode (what the UI
uses to send a signal or start a workflow) runs the codec chain only.

Resolving references is I/O on the server's event loop (the payload store's connection pool
belongs to it); the codec chain is CPU work and runs in a worker thread (``decode_in_thread``,
``encode_in_thread``), so one request of many payloads does not hold up every other request.
A request's troubles are logged as one line each, however many of its payloads they hit.
"""

import asyncio
import logging
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter
from temporalio.converter._data_converter import _has_reference_marker, _is_reference_payload

log = logging.getLogger("codec_server")

# What one decode request may bring back from the payload store, in bytes: its body is at most
# 16 MiB, but that holds thousands of references, each to a payload of megabytes.
# References past this are answered as they are stored (the UI shows them as references).
MAX_RESOLVED_BYTES = 64 * 1024 * 1024


def _described(err: Exception) -> str:
    """The error's kind and message (the project's errors name keys, ids and stores, never
    plaintext), cut short."""
    return f"{type(err).__name__}: {str(err)[:300]}"


class _Troubles:
    """One kind of trouble over one request's payloads: counted, and logged once (the first
    error stands for the rest), so forged or stale payloads cannot flood the log."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self.first: Exception | None = None

    def note(self, err: Exception) -> None:
        self.count += 1
        self.first = self.first or err

    def log(self, total: int) -> None:
        if self.first is not None:
            log.warning(
                "%d of %d payload(s) in a request %s (the first: %s)",
                self.count,
                total,
                self.what,
                _described(self.first),
            )


def is_reference(payload: Payload) -> bool:
    """An external-storage reference, as the SDK tells one: plain, or encoded by the codec and
    marked (temporalio names both tests private)."""
    return _is_reference_payload(payload) or _has_reference_marker(payload)


async def resolve_references(
    converter: DataConverter, payloads: Sequence[Payload]
) -> list[Payload]:
    """Each external-storage reference replaced by the payload it names, while the request has
    not brought back MAX_RESOLVED_BYTES; a reference that cannot be resolved stays as it is."""
    if converter.external_storage is None:
        return list(payloads)
    unresolved = _Troubles("could not be resolved from the payload store, shown as references")
    unsized = _Troubles("were references declaring no size, not fetched")
    out: list[Payload] = []
    left, over = MAX_RESOLVED_BYTES, False
    for stored in payloads:
        # The size the reference declares: a payload past what is left is not fetched at all
        # (it was fetched, hashed and parsed on the event loop, then dropped: 264 ms for 100 MiB).
        declared = sum(e.size_bytes for e in stored.external_payloads)
        if declared <= 0 and is_reference(stored):
            # The SDK writes a size on every reference it makes; one without (a caller left it
            # out) would be fetched whatever its size, past the budget, and only then dropped.
            unsized.note(ValueError("a reference with no externalPayloads size"))
            out.append(stored)
            continue
        if left <= 0 or declared > left:
            over = over or declared > 0
            out.append(stored)
            continue
        try:
            # The SDK's own retrieval step (the one DataConverter.decode runs before the codec).
            [payload] = await converter._external_retrieve_payload_sequence([stored])
        except Exception as err:  # one payload's trouble never fails the others
            unresolved.note(err)
            payload = stored
        if payload is not stored:
            left -= payload.ByteSize()
            if left < 0:
                over, payload = True, stored
        out.append(payload)
    unresolved.log(len(out))
    unsized.log(len(out))
    if over:
        log.warning(
            "a decode request resolved over %d bytes: the rest stay references", MAX_RESOLVED_BYTES
        )
    return out


async def _decode_each(converter: DataConverter, payloads: Sequence[Payload]) -> list[Payload]:
    codec = converter.payload_codec
    if codec is None:
        return list(payloads)
    left_encoded = _Troubles("were left encoded")
    out = []
    for payload in payloads:
        try:
            [payload] = await codec.decode([payload])
        except Exception as err:  # the UI shows this one as it is stored
            left_encoded.note(err)
        out.append(payload)
    left_encoded.log(len(out))
    return out


def decode_in_thread(converter: DataConverter, payloads: Sequence[Payload]) -> list[Payload]:
    """The codec chain's decode of each payload. Blocking: call it in a worker thread (it runs
    the codecs' async interface on an event loop of its own)."""
    return asyncio.run(_decode_each(converter, payloads))


def encode_in_thread(converter: DataConverter, payloads: Sequence[Payload]) -> list[Payload]:
    """The codec chain's encode. Blocking, like ``decode_in_thread``."""
    codec = converter.payload_codec
    if codec is None:
        return list(payloads)
    return asyncio.run(codec.encode(list(payloads)))
