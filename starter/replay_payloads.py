"""Why a history that failed to replay cannot be read here: its payloads, decoded as the replay
decodes them (the payload stores, the key ring). A process without the workers' database URL or
keys fails every history that needs them; that is a fact about this process, not about the code
the replay checks, and ``python -m starter replay`` says which it is."""

import re
from collections.abc import Iterator
from typing import Final

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from shared.encryption.codec import PayloadDecryptionError, UnknownEncryptionKey
from shared.payload_store import PayloadStoreError
from shared.stores.errors import PayloadIntegrityError, PayloadMissing, StoreUnavailable

# What a process without the workers' stores or keys meets reading a history's payloads: the
# history cannot be replayed here, which says nothing of the code.
UNREADABLE_PAYLOAD_ERRORS: Final = (
    PayloadMissing,
    PayloadIntegrityError,
    PayloadStoreError,
    StoreUnavailable,
    UnknownEncryptionKey,
    PayloadDecryptionError,
)
# Enough of an error to recognise it.
ERROR_CHARS: Final = 300
_CORE_MESSAGE: Final = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    # The core wraps the reason in its failure structure: keep the reason.
    if found := _CORE_MESSAGE.search(text):
        text = found.group(1)
    return text[:ERROR_CHARS]


async def unreadable_payload(converter: DataConverter, history: WorkflowHistory) -> str | None:
    """Why this process cannot read the history's payloads, if it cannot: each payload of its
    events decoded as the replay would (stores, codec). Asked only of a history that failed."""
    for event in history.events:
        for payloads in _payload_lists(event):
            try:
                await converter.decode(payloads)
            except UNREADABLE_PAYLOAD_ERRORS as err:
                return one_line(err)
            except Exception:
                continue
    return None


def _payload_lists(message: Message) -> Iterator[list[Payload]]:
    """Every payload in a proto message, in groups as they travel (a Payloads' list, or one)."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if isinstance(value, Message):
            values = [value]
        elif hasattr(value, "values"):  # a map: its message values
            values = list(value.values())
        else:  # a repeated field
            values = list(value)
        for item in values:
            if not isinstance(item, Message):
                continue
            if isinstance(item, Payloads):
                yield list(item.payloads)
            elif isinstance(item, Payload):
                yield [item]
            else:
                yield from _payload_lists(item)
