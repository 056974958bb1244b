"""A swarm's per-item results: written to a JSON Lines file, and recovered from the failed run's
history when the swarm failed over its threshold (its error carries the summary only)."""

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from shared import names
from shared.agents import AgentReply, Usage, total_usage
from shared.swarm import (
    InsightRequest,
    ItemResult,
    ReviewInsights,
    SwarmChunkResult,
    SwarmResult,
    SwarmState,
)
from shared.ticket_status import memo_if_readable
from starter.fanout_runs import INPUT_DIGEST
from workflows.agent_failures import spent_in


async def with_chunk_outputs(
    client: Client, workflow_id: str, summary: SwarmResult, order: list[str]
) -> SwarmResult:
    """The summary of a failed swarm with every item's result: the calls that succeeded were paid
    for. The run's error leaves the outputs out (they can be megabytes); they are read from the
    failed run's own history (``run_results``): what it started with, the chunks it completed and
    the calls it completed itself, readable until the namespace's retention removes it. A chunk that
    failed as a whole has no result: its items are among the summary's failures, which give every
    failed item with its reason. (Read by chunk ids before, ``<swarm id>/chunk-<n>`` in turn: the
    results a rerun kept were in none of its chunks and went missing from the file, and a higher
    chunk left by a run of other items under the same id could be read as this one's.)"""
    described = await client.get_workflow_handle(workflow_id).describe()
    read = await run_results(client, workflow_id, described.run_id, unfinished_chunks=False)
    found = {r.item_id: r for r in read}
    for failure in summary.failures:
        found.setdefault(
            failure.item_id, ItemResult(item_id=failure.item_id, ok=False, error=failure.reason)
        )
    position = {item_id: i for i, item_id in enumerate(order)}
    outputs = sorted(found.values(), key=lambda r: position.get(r.item_id, len(position)))
    return summary.model_copy(update={"outputs": outputs})


async def with_answers_of_failed_chunks(
    client: Client, workflow_id: str, result: SwarmResult
) -> tuple[SwarmResult, int]:
    """A completed swarm's result with the answers its chunks that failed as a whole
    (terminated, timed out, cancelled on their own) had bought, and how many: the swarm lists
    their items failed (the chunk's end carries no results), though the calls answered in the
    chunk were paid for, and running the same swarm again shows this completed run rather than
    analysing them. Read from each such chunk's own history (as a failed run's are:
    ``with_chunk_outputs``, ``earlier_successes``), put in place of their failures, with what
    they cost. The result in Temporal stays as the workflow ended it."""
    if not result.failed:
        return result, 0
    described = await client.get_workflow_handle(workflow_id).describe()
    events = await _events(client, workflow_id, described.run_id)
    failed = {f.item_id for f in result.failures}
    recovered: dict[str, ItemResult] = {}
    for chunk_id, chunk_run in await _unfinished_chunks(client, workflow_id, events):
        for answer in await _answered_calls(client, await _events(client, chunk_id, chunk_run)):
            if answer.item_id in failed:
                recovered[answer.item_id] = answer
    if not recovered:
        return result, 0
    usages = [r.usage for r in recovered.values() if r.usage is not None]
    succeeded = result.succeeded + len(recovered)
    return (
        result.model_copy(
            update={
                "succeeded": succeeded,
                "failed": result.failed - len(recovered),
                "success_rate": succeeded / result.total if result.total else 1.0,
                "failures": [f for f in result.failures if f.item_id not in recovered],
                "tokens": result.tokens + sum(u.input_tokens + u.output_tokens for u in usages),
                "cost_usd": round(result.cost_usd + sum(u.cost_usd for u in usages), 8),
                "outputs": [r if r.ok else recovered.get(r.item_id, r) for r in result.outputs],
            }
        ),
        len(recovered),
    )


async def run_results(
    client: Client, workflow_id: str, run_id: str, *, unfinished_chunks: bool = True
) -> list[ItemResult]:
    """The successful item results one swarm run holds: those it started with (its chain's
    earlier runs', and what it kept from an earlier chain), those of the chunks it completed,
    and the calls it completed itself (a swarm of one chunk runs its items without a child since
    single-chunk-inline; such a result is billed, as the workflow bills it, with what the
    routes that failed before its answer spent), from its own history.

    With ``unfinished_chunks``, also the calls answered in the chunks that did not complete (one
    terminated or timed out, or cancelled with the swarm), read from each chunk's own history:
    paid for, and in no result the swarm holds. A rerun keeps them; without them it analysed,
    and paid for, up to a whole chunk's items again (500 by default)."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads
    convert = client.data_converter
    [state] = await convert.decode(started[1:2], [SwarmState])
    found = [*state.carried.values(), *state.totals.results]
    for event in history.events:
        if event.HasField("child_workflow_execution_completed_event_attributes"):
            done = event.child_workflow_execution_completed_event_attributes.result.payloads
            [chunk] = await convert.decode(done, [SwarmChunkResult])
            found += chunk.results
    found += await _answered_calls(client, history.events)
    if unfinished_chunks:
        for chunk_id, chunk_run in await _unfinished_chunks(client, workflow_id, history.events):
            found += await _answered_calls(client, await _events(client, chunk_id, chunk_run))
    return [r for r in found if r.ok]


async def _unfinished_chunks(
    client: Client, workflow_id: str, events: Sequence[HistoryEvent]
) -> list[tuple[str, str]]:
    """The chunks (id, run id) started and not completed by this run and by the runs of its
    chain before it (what a completed chunk found is carried; an unfinished one's is not)."""
    unfinished: list[tuple[str, str]] = []
    while events:
        chunks: dict[int, tuple[str, str]] = {}  # a chunk's initiated event -> its id and run
        for event in events:
            if event.HasField("child_workflow_execution_started_event_attributes"):
                child = event.child_workflow_execution_started_event_attributes
                execution = child.workflow_execution
                chunks[child.initiated_event_id] = (execution.workflow_id, execution.run_id)
            elif event.HasField("child_workflow_execution_completed_event_attributes"):
                completed = event.child_workflow_execution_completed_event_attributes
                chunks.pop(completed.initiated_event_id, None)
        unfinished += chunks.values()
        start = events[0].workflow_execution_started_event_attributes
        earlier = start.continued_execution_run_id
        events = await _events(client, workflow_id, earlier) if earlier else []
    return unfinished


async def _events(client: Client, workflow_id: str, run_id: str) -> list[HistoryEvent]:
    """A run's history; none once the namespace's retention removed it."""
    try:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return []
        raise
    return list(history.events)


async def _answered_calls(client: Client, events: Sequence[HistoryEvent]) -> list[ItemResult]:
    """The item calls a history's workflow completed itself (a swarm of one chunk's, a chunk's),
    each billed with what the routes that failed before its answer spent."""
    convert = client.data_converter
    found: list[ItemResult] = []
    calls: dict[int, str] = {}  # an item call's scheduled event -> the item's id
    spent: dict[str, list[Usage]] = {}  # an item's failed calls' usage, until its answer
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == names.ANALYZE_ITEM:
                [request] = await convert.decode(scheduled.input.payloads, [InsightRequest])
                calls[event.event_id] = request.item.item_id
        elif event.HasField("activity_task_completed_event_attributes"):
            completed = event.activity_task_completed_event_attributes
            if (item_id := calls.get(completed.scheduled_event_id)) is None:
                continue
            [reply] = await convert.decode(completed.result.payloads, [AgentReply[ReviewInsights]])
            usage = total_usage([*spent.pop(item_id, []), reply.usage])
            found.append(ItemResult(item_id=item_id, ok=True, output=reply.output, usage=usage))
        else:
            ended = _failed_call(event, calls)
            if ended is not None:
                item_id, failure = ended
                if (usage := spent_in(await convert.decode_failure(failure))) is not None:
                    spent.setdefault(item_id, []).append(usage)
    return found


def _failed_call(event: HistoryEvent, calls: dict[int, str]) -> tuple[str, Failure] | None:
    """The item and the failure of an item call that failed or timed out for good."""
    if event.HasField("activity_task_failed_event_attributes"):
        failed = event.activity_task_failed_event_attributes
        scheduled, failure = failed.scheduled_event_id, failed.failure
    elif event.HasField("activity_task_timed_out_event_attributes"):
        timed_out = event.activity_task_timed_out_event_attributes
        scheduled, failure = timed_out.scheduled_event_id, timed_out.failure
    else:
        return None
    item_id = calls.get(scheduled)
    return (item_id, failure) if item_id is not None else None


async def earlier_successes(
    client: Client, workflow_id: str, digest: str, item_ids: set[str]
) -> dict[str, ItemResult]:
    """The items that the latest run under ``workflow_id`` and the runs it continued (the same
    items: the digest in its memo) had analysed successfully, when it failed, was cancelled or
    terminated or timed out: a rerun keeps them instead of analysing (and paying for) every
    item again. Read from that run's own history: what it started with (the results of the
    runs it continued from, and what it kept from an earlier chain), the chunks it completed and
    the calls it completed itself; never from chunk ids alone, which a run of other items under
    the same id may have used. Nothing for a run that still runs or completed (the rerun
    attaches to it or shows it), another workflow, or other items; only ids in ``item_ids``."""
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
    found = await run_results(client, workflow_id, described.run_id)
    return {r.item_id: r for r in found if r.item_id in item_ids}


def write_outputs(path: Path, result: SwarmResult) -> None:
    """The per-item results, one JSON line each, written whole or not at all: to a file beside
    ``path``, then renamed over it (opened in place, a full disk emptied an earlier results file
    and left the new one cut short; a review, 2026-12-07)."""
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as out:
        try:
            for r in result.outputs:
                out.write(json.dumps(r.model_dump(mode="json", exclude={"usage"})) + "\n")
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            out.close()
            Path(out.name).unlink(missing_ok=True)
            raise
    os.replace(out.name, path)
