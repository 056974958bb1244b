"""Starting a batch (many tickets as one workflow, workflows/batch.py) and watching it, under an
id derived from its tickets so that running `batch` again attaches to the run already going; and
what a cancelled batch leaves behind, in words."""

import asyncio
import builtins  # TimeoutError: the name is temporalio's workflow timeout here
from typing import Any, NamedTuple

from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from shared import names
from shared.batch import BatchProgress, BatchSettings, BatchState
from shared.operations import fairness_keys
from shared.tickets import Ticket, content_digest
from starter.fanout_runs import (
    INPUT_DIGEST,
    content_id,
    input_digest,
    newly_started,
    same_input,
    say_attached,
)
from starter.fanout_watch import require_workers, watched


class BatchRun(NamedTuple):
    workflow_id: str
    progress: BatchProgress | None  # None: not waited for
    attached: bool  # the same batch was running under this id: followed, not started again


def batch_parts(tickets: list[Ticket]) -> list[str]:
    """What a batch's id and input digest are made of: ids and content, so a file corrected
    under the same ids is another batch, one with only an address, a tier or a channel
    corrected too (it attached to the batch running the old file, whose tickets not started
    yet went out as the old file said: a review, 2026-12-07)."""
    return [
        "\x1e".join(
            [t.ticket_id, content_digest(t), t.customer_email or "", t.customer_tier, t.channel]
        )
        for t in tickets
    ]


async def run_batch(
    client: Client,
    tickets: list[Ticket],
    settings: BatchSettings,
    run_id: str | None,
    wait: bool,
    timeout: float | None = None,
) -> BatchRun:
    parts = batch_parts(tickets)
    digest = input_digest(parts)
    workflow_id = run_id or content_id("batch", parts)
    handle: WorkflowHandle[Any, BatchProgress] = await client.start_workflow(
        names.BATCH_WORKFLOW,
        args=[tickets, BatchState(settings=settings, fairness_keys=fairness_keys(client, tickets))],
        id=workflow_id,
        task_queue=names.TICKETS_TASK_QUEUE,
        result_type=BatchProgress,
        static_summary=f"{len(tickets)} tickets, {settings.window} in flight",
        memo={INPUT_DIGEST: digest},
        # A batch that ran before may run again: its tickets exist, so it starts none of them.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    attached = not newly_started(handle)
    await same_input(client, workflow_id, digest, "batch", names.BATCH_WORKFLOW)
    if not wait:
        return BatchRun(workflow_id, None, attached)

    async def describe() -> tuple[int, int, str]:
        p = await handle.query(names.PROGRESS_QUERY, result_type=BatchProgress)
        return p.done, p.total, f"{p.in_flight} in flight, {p.already_known} already known"

    async def left_running() -> str:
        try:
            p = await asyncio.wait_for(
                handle.query(names.PROGRESS_QUERY, result_type=BatchProgress), LEFT_RUNNING_SECONDS
            )
        except (RPCError, WorkflowQueryFailedError, builtins.TimeoutError):
            return " (what it had started is not known: no worker answered its progress)"
        return batch_left_running(p)

    if attached:
        say_attached(workflow_id, f"these {len(tickets)} ticket(s)", following=True)
    progress = await watched(
        handle,
        describe,
        "tickets",
        f"the batch {workflow_id}",
        stopped=left_running,
        check_worker=lambda: require_workers(client, workflow_id, "the batch"),
        timeout=timeout,
    )
    return BatchRun(workflow_id, progress, attached)


# How long a cancelled batch's progress is asked for (a query on a closed run: a worker replays
# its history).
LEFT_RUNNING_SECONDS = 10.0


def batch_left_running(progress: BatchProgress) -> str:
    """What a cancelled batch leaves behind, in words: its tickets are workflows of their own
    (the batch abandons them as it closes), so those it started go on to their answers; those
    it had not started never start. Every ticket is in one of the counts: reported back (ended,
    waiting for a person, or refused), already known (a ticket of this id existed), in flight
    (started, or being started, and not reported back), never started."""
    reported = sum(progress.settled.values())
    unstarted = max(progress.total - progress.done - progress.in_flight, 0)
    said = f": of its {progress.total:,} ticket(s), {reported:,} had reported back"
    if progress.already_known:
        said += f", {progress.already_known:,} {_were(progress.already_known)} already known"
    started = progress.in_flight - progress.restarting
    if started > 0:
        said += (
            f", {started:,} {_were(started)} in flight: a ticket started "
            "is a workflow of its "
            "own and goes on to its answer (`list` shows them, `status ID` each one)"
        )
    if progress.restarting:
        said += (
            f", {progress.restarting:,} {_were(progress.restarting)} being started again (an "
            "ended run held the id) and may not have started: `status ID` says; the same "
            "`batch` command starts those that did not"
        )
    if unstarted:
        said += f", {unstarted:,} never started (the same `batch` command starts them)"
    return said


def _were(count: int) -> str:
    return "was" if count == 1 else "were"
