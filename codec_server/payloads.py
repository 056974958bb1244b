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

One byte budget per decode request covers both ways a payload comes back from a store: an
external-storage reference, and a reference of the claim-check codec of before (read from the
data directory by the codec chain). Once the payload store fails (not one payload: the store),
or the request has spent ``MAX_RESOLVE_SECONDS`` resolving, the rest of its references are
answered as they are stored: a database that accepts connections and never answers cost 5 s per
reference, one after another, and four such requests held every processing slot.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter
from temporalio.converter._data_converter import _has_reference_marker, _is_reference_payload

from codec_server.audit import shown
from shared.data_converter import LEGACY_ENCODING
from shared.stores.errors import PayloadIntegrityError, PayloadMissing, PayloadTooLarge
from shared.stores.payloads import read_at_most

log = logging.getLogger("codec_server")

# What one decode request may bring back from the payload store, in bytes: its body is at most
# 16 MiB, but that holds thousands of references, each to a payload of megabytes.
# References past this are answered as they are stored (the UI shows them as references).
MAX_RESOLVED_BYTES = 64 * 1024 * 1024
# How long one decode request may spend fetching from the payload store, in seconds.
MAX_RESOLVE_SECONDS = 20.0


class ByteBudget:
    """What one decode request may still bring back from the payload stores, in bytes."""

    def __init__(self) -> None:
        self.left = MAX_RESOLVED_BYTES
        self.over = False  # something was left as stored for want of budget
        self._said = False  # the request's line is logged once, by whichever step ran out

    def spend(self, payload: Payload) -> bool:
        """Whether ``payload`` (brought back) fits what is left; counted either way."""
        self.left -= payload.ByteSize()
        if self.left < 0:
            self.over = True
        return self.left >= 0

    def log(self) -> None:
        if self.over and not self._said:
            self._said = True
            log.warning(
                "a decode request brought back over %d bytes from the payload stores: the rest "
                "stay references",
                MAX_RESOLVED_BYTES,
            )


def _described(err: Exception) -> str:
    """The error's kind and message (the project's errors name keys, ids and stores, never
    plaintext), cut short, as one printable line: the SDK's own errors quote what the request
    sent (a reference's driver name), and a line break in it wrote a forged audit line into the
    log the audit lines go to."""
    return f"{type(err).__name__}: {shown(str(err), 300)}"


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


def _payloads_own_trouble(err: BaseException) -> bool:
    """Whether ``err`` is about one payload (missing, not the bytes its reference names, or a
    reference that does not read: a driver this server lacks, a malformed claim; the SDK says
    those with ValueError) rather than the store (unreachable, timing out, refusing)."""
    seen: BaseException | None = err
    for _ in range(10):  # the SDK may wrap the driver's error
        if seen is None:
            break
        if isinstance(seen, (PayloadMissing, PayloadIntegrityError, ValueError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def resolve_references(
    converter: DataConverter, payloads: Sequence[Payload], budget: ByteBudget | None = None
) -> list[Payload]:
    """Each external-storage reference replaced by the payload it names, while the request has
    ``budget`` left (MAX_RESOLVED_BYTES when none is given), the store answers and
    MAX_RESOLVE_SECONDS have not passed; a reference that cannot be resolved stays as it is."""
    if converter.external_storage is None:
        return list(payloads)
    budget = budget or ByteBudget()
    unresolved = _Troubles("could not be resolved from the payload store, shown as references")
    unsized = _Troubles("were references declaring no size, not fetched")
    skipped = _Troubles("were not fetched: the payload store failed or took too long")
    out: list[Payload] = []
    store_failed = False
    deadline = time.monotonic() + MAX_RESOLVE_SECONDS
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
        if budget.left <= 0 or declared > budget.left:
            budget.over = budget.over or declared > 0
            out.append(stored)
            continue
        if declared > 0 and (store_failed or time.monotonic() > deadline):
            skipped.note(TimeoutError("the store failed earlier in the request, or time ran out"))
            out.append(stored)
            continue
        try:
            # The SDK's own retrieval step (the one DataConverter.decode runs before the codec),
            # bounded by what is left of the request's time and budget: the size a reference
            # declares is the caller's word, the store's is checked before reading (a reference
            # to a 100 MiB payload declaring 1 byte was read whole, then dropped).
            with read_at_most(budget.left):
                [payload] = await asyncio.wait_for(
                    converter._external_retrieve_payload_sequence([stored]),
                    max(deadline - time.monotonic(), 0.001),
                )
        except PayloadTooLarge:
            budget.over = True
            payload = stored
        except Exception as err:  # one payload's trouble never fails the others
            unresolved.note(err)
            store_failed = store_failed or not _payloads_own_trouble(err)
            payload = stored
        if payload is not stored and not budget.spend(payload):
            payload = stored
        out.append(payload)
    unresolved.log(len(out))
    unsized.log(len(out))
    skipped.log(len(out))
    budget.log()
    return out


async def _decode_each(
    converter: DataConverter, payloads: Sequence[Payload], budget: ByteBudget
) -> list[Payload]:
    codec = converter.payload_codec
    if codec is None:
        return list(payloads)
    left_encoded = _Troubles("were left encoded")
    out = []
    for stored in payloads:
        # An old claim check is read from the data directory by the chain: it spends the
        # request's budget as a resolved reference does (the same hash sent a thousand times
        # was read, and answered, a thousand times).
        old_claim = stored.metadata.get("encoding") == LEGACY_ENCODING
        if old_claim and budget.left <= 0:
            budget.over = True
            out.append(stored)
            continue
        payload = stored
        try:
            # An old claim's file within what is left of the budget, by its size on disk.
            with read_at_most(budget.left) if old_claim else contextlib.nullcontext():
                [payload] = await codec.decode([stored])
        except PayloadTooLarge:
            budget.over = True
        except Exception as err:  # the UI shows this one as it is stored
            left_encoded.note(err)
        if old_claim and payload is not stored and not budget.spend(payload):
            payload = stored
        out.append(payload)
    left_encoded.log(len(out))
    budget.log()
    return out


def decode_in_thread(
    converter: DataConverter, payloads: Sequence[Payload], budget: ByteBudget | None = None
) -> list[Payload]:
    """The codec chain's decode of each payload, old claim checks within ``budget`` (what the
    request's references left; MAX_RESOLVED_BYTES when none is given). Blocking: call it in a
    worker thread (it runs the codecs' async interface on an event loop of its own)."""
    return asyncio.run(_decode_each(converter, payloads, budget or ByteBudget()))


def encode_in_thread(converter: DataConverter, payloads: Sequence[Payload]) -> list[Payload]:
    """The codec chain's encode. Blocking, like ``decode_in_thread``."""
    codec = converter.payload_codec
    if codec is None:
        return list(payloads)
    return asyncio.run(codec.encode(list(payloads)))
