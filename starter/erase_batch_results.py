"""A batch's ticket's answer in the payload store, for ``erase``.

A child workflow's result is stored for the parent that reads it: temporalio stores a child's
completion with its parent as the payload's owner. A ticket a batch started is such a child, so
its result (the ticket's whole view, answer included) is owned by the batch when it is large
enough to be stored, and erasing the ticket's own payloads left it behind: the customer's answer
survived the erasure. ``erase`` reads which stored payloads the ticket's runs refer to before it
deletes them, and takes the batch's ownership of exactly those away (a payload another owner
still holds stays, as everywhere in the store).
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from shared.history_references import referenced_hashes
from shared.stores.payloads import ContentAddressedDriver, Release

# A release applies whenever the pair was last stored: any time before this one.
_ANY_TIME = datetime(9999, 1, 1, tzinfo=UTC)


async def _decode(client: Client, payloads: Sequence[Payload]) -> list[Payload]:
    codec = client.data_converter.payload_codec
    return await codec.decode(payloads) if codec else list(payloads)


async def referred_to(client: Client, workflow_id: str, runs: Sequence[str]) -> set[str]:
    """The stored payloads these runs' histories refer to (a run gone already: none)."""
    found: set[str] = set()
    for run_id in runs:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            events = [e async for e in handle.fetch_history_events()]
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        found |= await referenced_hashes(events, lambda p: _decode(client, p))
    return found


async def release_from_batch(store: ContentAddressedDriver, batch_id: str, hashes: set[str]) -> int:
    """Take the batch's ownership of ``hashes`` away; the payloads deleted (no owner left)."""
    if not hashes:
        return 0
    releases = [Release(h, batch_id, _ANY_TIME) for h in sorted(hashes)]
    return (await store.collect(releases)).payloads
