"""Which stored payloads a workflow history refers to.

A payload the data converter moved to the payload store is replaced in the history by a small
reference payload (``temporal.api.sdk.v1.ExternalStorageReference`` as protobuf JSON: the driver's
name and its claim, which for our drivers holds the content hash). Those references can sit in any
payload field of any event: inputs, results, failures' details, memo, headers. This walks every
field of every event and collects the hashes, which is what payload garbage collection needs to
know that a payload is still reachable.
"""

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1 import ExternalStorageReference
from temporalio.client import Client, WorkflowHistoryEventFilterType
from temporalio.service import RPCError, RPCStatusCode

from shared.stores.payloads import HASH_KEY

REFERENCE_MESSAGE_TYPE: Final = ExternalStorageReference.DESCRIPTOR.full_name.encode()
# Older SDK versions wrote references as plain JSON with this encoding.
LEGACY_REFERENCE_ENCODING: Final = b"json/external-storage-reference"
# A later SDK marks references it passed through the codec (encrypted) with this metadata key.
ENCODED_REFERENCE_MARKER: Final = "__temporal_external_storage_reference"

Decode = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def payloads_in(message: Message) -> Iterable[Payload]:
    """Every Payload message anywhere inside ``message`` (maps and repeated fields included)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            entry_value = field.message_type.fields_by_name["value"]
            if entry_value.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value.values():
                    yield from payloads_in(item)
        elif _repeated(field):
            for item in value:
                yield from payloads_in(item)
        else:
            yield from payloads_in(value)


def _repeated(field: FieldDescriptor) -> bool:
    # protobuf 5.28+ says so directly (and 7 dropped ``label``); older versions have the label.
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def reference_hash(payload: Payload) -> str | None:
    """The content hash a reference payload points to, or None for any other payload."""
    encoding = payload.metadata.get("encoding", b"")
    try:
        if payload.metadata.get("messageType") == REFERENCE_MESSAGE_TYPE:
            reference = json_format.Parse(payload.data, ExternalStorageReference())
            return reference.claim_data.get(HASH_KEY) or None
        if encoding == LEGACY_REFERENCE_ENCODING:
            legacy = json.loads(payload.data)
            claim = (legacy.get("driver_claim") or {}).get("claim_data") or {}
            return claim.get(HASH_KEY) or None
    except (json_format.ParseError, ValueError, AttributeError):
        return None
    return None


async def referenced_hashes(events: Iterable[Message], decode: Decode) -> set[str]:
    """The content hashes of the stored payloads these history events refer to. ``decode``
    (the data converter's codec) opens references a codec encoded."""
    found: set[str] = set()
    encoded: list[Payload] = []
    for event in events:
        for payload in payloads_in(event):
            if payload.metadata.get(ENCODED_REFERENCE_MARKER) == b"true":
                encoded.append(payload)
            elif (key := reference_hash(payload)) is not None:
                found.add(key)
    if encoded:
        found |= {k for p in await decode(encoded) if (k := reference_hash(p)) is not None}
    return found


# Characters a visibility query cannot quote safely: a workflow id holding one is not listed.
UNQUOTABLE: Final = ("'", "\\", '"')


def codec_of(client: Client) -> Decode:
    """The client's payload codec as ``referenced_hashes`` wants it (no codec: as they are)."""

    async def decode(payloads: Sequence[Payload]) -> list[Payload]:
        codec = client.data_converter.payload_codec
        return await codec.decode(payloads) if codec else list(payloads)

    return decode


async def listed_runs(client: Client, workflow_id: str) -> list[str] | None:
    """The runs visibility lists for the id (None: an id a visibility query cannot quote)."""
    if any(c in workflow_id for c in UNQUOTABLE):
        return None
    return [e.run_id async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


async def child_runs(client: Client, parent_id: str) -> list[tuple[str, str]] | None:
    """Every (workflow id, run id) visibility lists with ``parent_id`` as its parent, the runs a
    reset made included (None: an id a visibility query cannot quote)."""
    if any(c in parent_id for c in UNQUOTABLE):
        return None
    query = f"ParentWorkflowId = '{parent_id}'"
    return [(e.id, e.run_id) async for e in client.list_workflows(query)]


async def run_events(
    client: Client, workflow_id: str, run_id: str, *, close_only: bool = False
) -> list[Message]:
    """One run's history events (``close_only``: its close event, none while it runs); none
    when the run is gone (past retention, deleted)."""
    only = (
        WorkflowHistoryEventFilterType.CLOSE_EVENT
        if close_only
        else WorkflowHistoryEventFilterType.ALL_EVENT
    )
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        return [e async for e in handle.fetch_history_events(event_filter_type=only)]
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return []
        raise


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    """Whether a run of ``workflow_id`` is retained (any status)."""
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def patch_id(event: HistoryEvent) -> str | None:
    """The patch a marker event records (sdk-core's "core_patch", its "patch-data"), or None."""
    if not event.HasField("marker_recorded_event_attributes"):
        return None
    marker = event.marker_recorded_event_attributes
    data = marker.details.get("patch-data")
    if marker.marker_name != "core_patch" or data is None or not data.payloads:
        return None
    try:
        found = json.loads(data.payloads[0].data)
    except ValueError:
        return None
    return found.get("id") if isinstance(found, dict) else None
