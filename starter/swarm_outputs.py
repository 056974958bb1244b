"""A swarm's per-item results: written to a JSON Lines file, and recovered from its chunk
workflows when the swarm failed over its threshold (its error carries the summary only)."""

import json
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from shared import names
from shared.swarm import ItemResult, SwarmChunkResult, SwarmResult, SwarmState
from shared.ticket_status import memo_if_readable
from starter.fanout_runs import INPUT_DIGEST


async def with_chunk_outputs(
    client: Client,
    workflow_id: str,
    summary: SwarmResult,
    order: list[str],
    carried: dict[str, ItemResult] | None = None,
) -> SwarmResult:
    """The summary of a failed swarm with every item's result: the calls that succeeded were
    paid for. The run's error leaves the outputs out (they can be megabytes); each chunk's
    result is its own child workflow's (``<swarm id>/chunk-<n>``), readable until the
    namespace's retention removes it. A chunk that failed as a whole has no result: its items
    are among the summary's failures, which give every failed item with its reason.
    ``carried``: the results the run kept from an earlier one (in no chunk of its own)."""
    found: dict[str, ItemResult] = dict(carried or {})
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


async def earlier_successes(
    client: Client, workflow_id: str, digest: str, item_ids: set[str]
) -> dict[str, ItemResult]:
    """The items that the latest run under ``workflow_id`` and the runs it continued (the same
    items: the digest in its memo) had analysed successfully, when it failed, was cancelled or
    terminated or timed out: a rerun keeps them instead of analysing (and paying for) every
    item again. Read from that run's own history: what it started with (the results of the
    runs it continued from, and what it kept from an earlier chain) and the chunks it completed;
    never from chunk ids alone, which a run of other items under the same id may have used.
    Nothing for a run that still runs or completed (the rerun attaches to it or shows it),
    another workflow, or other items; only ids in ``item_ids``."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        described = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return {}
        raise
    ended = described.status not in (
        None,
        WorkflowExecutionStatus.RUNNING,
        WorkflowExecutionStatus.COMPLETED,
        WorkflowExecutionStatus.CONTINUED_AS_NEW,
    )
    if not ended or described.workflow_type != names.SWARM_WORKFLOW:
        return {}
    if (await memo_if_readable(described) or {}).get(INPUT_DIGEST) != digest:
        return {}
    history = await client.get_workflow_handle(workflow_id, run_id=described.run_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads
    [state] = await client.data_converter.decode(started[1:2], [SwarmState])
    found = [*state.carried.values(), *state.totals.results]
    for event in history.events:
        if event.HasField("child_workflow_execution_completed_event_attributes"):
            done = event.child_workflow_execution_completed_event_attributes.result.payloads
            [chunk] = await client.data_converter.decode(done, [SwarmChunkResult])
            found += chunk.results
    return {r.item_id: r for r in found if r.ok and r.item_id in item_ids}


def write_outputs(path: Path, result: SwarmResult) -> None:
    with path.open("w", encoding="utf-8") as out:
        for r in result.outputs:
            out.write(json.dumps(r.model_dump(mode="json", exclude={"usage"})) + "\n")
