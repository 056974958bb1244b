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

from temporalio.client import Client
from temporalio.service import RPCError

from shared.history_references import codec_of, listed_runs, referenced_hashes, run_events
from shared.payload_gc import REPLAYER_NAMESPACE
from shared.stores.payloads import ContentAddressedDriver, Release

# A release applies whenever the pair was last stored: any time before this one.
_ANY_TIME = datetime(9999, 1, 1, tzinfo=UTC)


async def referred_to(client: Client, workflow_id: str, runs: Sequence[str]) -> set[str]:
    """The stored payloads these runs' histories refer to (a run gone already: none)."""
    found: set[str] = set()
    for run_id in runs:
        events = await run_events(client, workflow_id, run_id)
        found |= await referenced_hashes(events, codec_of(client))
    return found


async def held_by_batch(client: Client, batch_id: str) -> set[str] | None:
    """What the batch's own histories refer to (None: its runs could not be listed). A ticket that
    completed while the batch run that started it was open is in that run's history (its result
    event), and a batch whose payload is gone can no longer be replayed (a running one is stuck
    on its next workflow task): those stay, with the batch's input, until the batch goes."""
    try:
        runs = await listed_runs(client, batch_id)
    except RPCError:
        return None
    return None if runs is None else await referred_to(client, batch_id, runs)


async def release_from_batch(
    store: ContentAddressedDriver, batch_id: str, hashes: set[str], namespace: str
) -> int:
    """Take the batch's ownership of ``hashes`` away in ``namespace`` (and its replayer copies');
    the payloads deleted (no owner left). Another namespace's batch of the same id sharing the
    store keeps its own."""
    if not hashes:
        return 0
    releases = [
        Release(h, batch_id, _ANY_TIME, ns)
        for h in sorted(hashes)
        for ns in (namespace, REPLAYER_NAMESPACE)
    ]
    return (await store.collect(releases)).payloads
