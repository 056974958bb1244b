"""A swarm's per-item results: written to a JSON Lines file, and recovered from its chunk
workflows when the swarm failed over its threshold (its error carries the summary only)."""

import json
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from shared.swarm import ItemResult, SwarmChunkResult, SwarmResult


async def with_chunk_outputs(
    client: Client, workflow_id: str, summary: SwarmResult, order: list[str]
) -> SwarmResult:
    """The summary of a failed swarm with every item's result: the calls that succeeded were
    paid for. The run's error leaves the outputs out (they can be megabytes); each chunk's
    result is its own child workflow's (``<swarm id>/chunk-<n>``), readable until the
    namespace's retention removes it. A chunk that failed as a whole has no result: its items
    are among the summary's failures, which give every failed item with its reason."""
    found: dict[str, ItemResult] = {}
    n = 0
    # The chunks of this run are 0..k-1 with no gap; a higher number can be an earlier run's.
    while sum(r.ok for r in found.values()) < summary.succeeded:
        chunk = client.get_workflow_handle(f"{workflow_id}/chunk-{n}", result_type=SwarmChunkResult)
        try:
            found.update((r.item_id, r) for r in (await chunk.result()).results if r.ok)
        except WorkflowFailureError:
            pass  # failed as a whole: its items are in the summary's failures
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                break  # retention removed it (or the swarm started none)
            raise
        n += 1
    for failure in summary.failures:
        found.setdefault(
            failure.item_id, ItemResult(item_id=failure.item_id, ok=False, error=failure.reason)
        )
    position = {item_id: i for i, item_id in enumerate(order)}
    outputs = sorted(found.values(), key=lambda r: position.get(r.item_id, len(position)))
    return summary.model_copy(update={"outputs": outputs})


def write_outputs(path: Path, result: SwarmResult) -> None:
    with path.open("w", encoding="utf-8") as out:
        for r in result.outputs:
            out.write(json.dumps(r.model_dump(mode="json", exclude={"usage"})) + "\n")
