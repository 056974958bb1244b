"""Starting the fan-out workflows: a plan (orchestrator-workers) and a swarm (one agent, many
items) here, a batch (many tickets as one workflow) in starter/batch_run.py, each under an id
derived from its input so that running a command again attaches to the run already going; the
ids and the attaching are here for all three, the watching in starter/fanout_watch.py."""

import asyncio
import builtins
import contextlib
import hashlib
import json
import uuid
from typing import Any, NamedTuple

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    TerminatedError,
    TimeoutError,
    WorkflowAlreadyStartedError,
)
from temporalio.service import RPCError

from shared import names
from shared.orchestration import (
    OrchestratorFailure,
    OrchestratorInput,
    OrchestratorProgress,
    OrchestratorResult,
)
from shared.swarm import (
    ItemResult,
    SwarmItem,
    SwarmProgress,
    SwarmResult,
    SwarmSettings,
    SwarmState,
)
from starter import render, render_fanout, team_time
from starter.errors import CliError
from starter.fanout_watch import (
    ended,
    ended_with_result,
    gave_up,
    require_workers,
    watch,
    watched,
)
from starter.plan_spend import spent_by_run, spent_words


def content_id(prefix: str, parts: list[str]) -> str:
    """The same input gives the same workflow id: resubmitting finds the earlier run."""
    return f"{prefix}-{input_digest(parts)[:12]}"


# The memo entry naming a fan-out run's input (a digest; continue-as-new keeps the memo): a
# start that finds a run under its id attaches to it only when it has the same input.
INPUT_DIGEST = "input_digest"


def input_digest(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# The commands' words for the workflows they start (a ticket's id names a ticket workflow).
RUN_KINDS = {
    names.ORCHESTRATOR_WORKFLOW: "plan",
    names.SWARM_WORKFLOW: "swarm",
    names.BATCH_WORKFLOW: "batch",
    names.TICKET_WORKFLOW: "ticket",
}


async def same_input(
    client: Client, workflow_id: str, digest: str, what: str, kind: str = ""
) -> None:
    """Refuse to follow the run under ``workflow_id`` when it is not this input's: the start
    found another run there (an --id reused, a batch file corrected while its first batch
    runs) and returned it without a word, so the new input was never submitted while the
    command reported it started and showed the other run's progress as its own."""
    described = await client.get_workflow_handle(workflow_id).describe()
    if kind and described.workflow_type != kind:
        # `plan --id swarm-...`: said "is completed with other input".
        found_kind = RUN_KINDS.get(described.workflow_type, described.workflow_type)
        raise CliError(
            f"{workflow_id} is a {found_kind} run, not a {RUN_KINDS.get(kind, kind)}: this "
            f"{what} was NOT submitted: give it its own --id"
        )
    found = (await described.memo()).get(INPUT_DIGEST)
    if found is None:
        # A run started before runs recorded their input: it cannot be compared.
        render.console(stderr=True).print(
            f"note: {workflow_id} was started before runs recorded their input, so it cannot "
            "be compared with this one; following it (give another --id if it is not yours)"
        )
        return
    if found != digest:
        since = f" (started {team_time.at(described.start_time)})" if described.start_time else ""
        status = described.status.name.lower() if described.status else "there"
        running = described.status == WorkflowExecutionStatus.RUNNING
        raise CliError(
            f"{workflow_id} is {status} with other input{since}; this {what} was NOT "
            "submitted: give it another --id" + (", or wait for that run to end" if running else "")
        )


def newly_started(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether ``start_workflow`` made a new run, or (the conflict policy USE_EXISTING) returned
    the one already running under the id. The SDK keeps the server's answer on the handle under
    a private name only: read there, and a start whose answer is missing counts as new."""
    response = getattr(handle, "_start_workflow_response", None)
    return response is None or bool(getattr(response, "started", True))


def say_attached(workflow_id: str, what: str, *, following: bool) -> None:
    """The start found a run of the same input running under the id: said so, not "started"
    (nothing new was started or paid for), and what happens now."""
    then = (
        "following it (nothing new was started)"
        if following
        else "nothing new was started: the same command with --wait waits for it"
    )
    render.console(stderr=True).print(f"{workflow_id} was already running {what}; {then}")


# ---- plan ----------------------------------------------------------------------------------------


class PlanRun(NamedTuple):
    workflow_id: str
    result: OrchestratorResult | None  # None: not waited for
    earlier: bool  # a run under this id completed before: shown, not started again
    attached: bool = False  # a run under this id was running: followed, not started


async def run_plan(
    client: Client, task: str, run_id: str | None, wait: bool, timeout: float | None = None
) -> PlanRun:
    workflow_id = run_id or f"plan-{uuid.uuid4().hex[:10]}"
    digest = input_digest([task])
    try:
        handle: WorkflowHandle[Any, OrchestratorResult] = await client.start_workflow(
            names.ORCHESTRATOR_WORKFLOW,
            OrchestratorInput(task=task),
            id=workflow_id,
            task_queue=names.TICKETS_TASK_QUEUE,
            result_type=OrchestratorResult,
            static_summary=task[:200],
            memo={INPUT_DIGEST: digest},
            # `plan --id X --wait`, the command a run started without --wait advises, after
            # that run completed: its result is shown, not planned and paid for again. A run
            # that failed, was cancelled or terminated may run again.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        earlier, attached = False, not newly_started(handle)
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(workflow_id, result_type=OrchestratorResult)
        earlier, attached = True, False
    await same_input(client, workflow_id, digest, "task", names.ORCHESTRATOR_WORKFLOW)
    if not wait:
        return PlanRun(workflow_id, None, earlier, attached)
    if earlier:
        # Completed: its result from its history, with no progress query (a closed run's query
        # needs a worker to replay it, and the result needs none).
        return PlanRun(workflow_id, await handle.result(), earlier, attached)

    async def describe() -> tuple[int, int, str]:
        p = await handle.query(names.PROGRESS_QUERY, result_type=OrchestratorProgress)
        total = len(p.plan.subtasks) if p.plan else 0
        return len(p.outcomes), total, p.phase

    if attached:
        say_attached(workflow_id, "this task", following=True)
    elif not earlier:
        # Its id first: after Ctrl-C the id was nowhere, and the same command without it
        # would plan (and pay for) the task again.
        render.console(stderr=True).print(
            f"planning as {workflow_id}; Ctrl-C stops the waiting, not the run: the same "
            f"command with --id {workflow_id} --wait waits for it again"
        )

    async def spent() -> str:
        try:
            described = await handle.describe()
            return spent_words(await spent_by_run(client, workflow_id, described.run_id))
        except Exception as err:  # said, and the run's own ending first
            cause = err.message if isinstance(err, RPCError) else " ".join(str(err).split())
            return f" (what its calls had spent could not be read: {cause[:200]})"

    what = f"the plan run {workflow_id}"
    result = await watched(
        handle,
        describe,
        "sub-tasks",
        what,
        failed=_show_plan_failure,
        stopped=spent,
        check_worker=lambda: require_workers(client, workflow_id, "the plan"),
        timeout=timeout,
    )
    return PlanRun(workflow_id, result, earlier, attached)


def _show_plan_failure(err: WorkflowFailureError) -> None:
    if (failure := plan_failure(err)) is not None:
        render_fanout.print_failed_plan(failure)


def plan_failure(err: WorkflowFailureError) -> OrchestratorFailure | None:
    """What a failed run's error carries: its sub-tasks' outcomes and every call's usage (None
    for a run cancelled or terminated, or one from before runs reported them)."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.details:
        with contextlib.suppress(ValueError):
            return OrchestratorFailure.model_validate(cause.details[0])
    return None


# ---- swarm ---------------------------------------------------------------------------------------


def swarm_input(items: list[SwarmItem], run_id: str | None) -> tuple[str, str]:
    """A swarm's workflow id (derived from its items unless given) and its input's digest."""
    parts = swarm_parts(items)
    return run_id or content_id("swarm", parts), input_digest(parts)


# Marks the digest's second form (below): no part of the first is without a "\x1e".
SWARM_PARTS_V2 = "swarm-parts-v2"


def swarm_parts(items: list[SwarmItem]) -> list[str]:
    """What a swarm's id and input digest are made of. Each item's id and text joined by "\x1e",
    the items by "\x1f": unambiguous only while no id or text holds either character, and a
    text may (JSON's "\u001f"). One item ``a`` of text "x\x1fb\x1ey" read as the two items
    ``a`` "x" and ``b`` "y", the same id and digest, so running either file after the other
    showed the first one's result and never analysed the second (a review, 2026-12-07). Such
    an input now takes a second form, each item JSON-encoded (which escapes both characters);
    every other input keeps the first, so a file run before keeps its id and its result."""
    if not any(_separated(item.item_id) or _separated(item.text) for item in items):
        return [f"{i.item_id}\x1e{i.text}" for i in items]
    return [SWARM_PARTS_V2] + [json.dumps([i.item_id, i.text]) for i in items]


def _separated(text: str) -> bool:
    return "\x1e" in text or "\x1f" in text


async def run_swarm(
    client: Client,
    items: list[SwarmItem],
    settings: SwarmSettings,
    run_id: str | None,
    carried: dict[str, ItemResult] | None = None,
    timeout: float | None = None,
) -> tuple[str, SwarmResult]:
    """``carried``: what an earlier run of these items under this id analysed (it failed):
    kept, not analysed again."""
    workflow_id, digest = swarm_input(items, run_id)
    try:
        handle: WorkflowHandle[Any, SwarmResult] = await client.start_workflow(
            names.SWARM_WORKFLOW,
            args=[items, SwarmState(settings=settings, carried=carried or {})],
            id=workflow_id,
            task_queue=names.TICKETS_TASK_QUEUE,
            result_type=SwarmResult,
            static_summary=f"{len(items)} items, {settings.concurrency} at a time",
            memo={INPUT_DIGEST: digest},
            # A run that failed may run again; one that completed is shown, not repeated.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowAlreadyStartedError:
        # The same items ran before: show that run's result rather than analysing them again
        # (other items under that id: refused).
        await same_input(client, workflow_id, digest, "set of items", names.SWARM_WORKFLOW)
        render.console(stderr=True).print(
            f"these items were analysed before ({workflow_id}); showing that run "
            "(use --id NEW to analyse them again)"
        )
        handle = client.get_workflow_handle(workflow_id, result_type=SwarmResult)
        # Completed (a failed run may run again): its result from its history, with no progress
        # query (a closed run's query needs a worker to replay it, and the result needs none).
        return workflow_id, await handle.result()
    await same_input(client, workflow_id, digest, "set of items", names.SWARM_WORKFLOW)
    result = asyncio.ensure_future(handle.result())

    async def describe() -> tuple[int, int, str]:
        p = await handle.query(names.PROGRESS_QUERY, result_type=SwarmProgress)
        done, failed = p.done, p.failed
        if p.running_chunk:
            try:
                chunk = await client.get_workflow_handle(p.running_chunk).query(
                    names.PROGRESS_QUERY, result_type=SwarmProgress
                )
                # The running chunk's items too, failures included (the parent counts a
                # chunk's failures only when it ends).
                done, failed = done + chunk.done, failed + chunk.failed
            except RPCError:
                pass
        return done, p.total, f"{failed} failed"

    try:
        await watch(
            describe,
            result,
            "items",
            lambda: require_workers(client, workflow_id, "the swarm"),
            timeout,
        )
    except builtins.TimeoutError:  # asyncio.timeout's, not the workflow's (temporalio's)
        if timeout is None:
            raise
        if not ended_with_result(result):  # as in watched()
            raise gave_up(f"the swarm {workflow_id}", workflow_id, timeout) from None
    try:
        return workflow_id, await result
    except WorkflowFailureError as err:
        cause = err.cause
        details = cause.details if isinstance(cause, ApplicationError) else ()
        summary = SwarmResult.model_validate({**details[0], "outputs": []}) if details else None
        failed = SwarmFailed(ended(f"the swarm {workflow_id}", err), workflow_id, summary)
        failed.stopped = isinstance(err.cause, CancelledError | TerminatedError | TimeoutError)
        raise failed from None


class SwarmFailed(CliError):
    """A swarm over its failure threshold: its error carries the summary (not the outputs).
    ``stopped``: cancelled, terminated or timed out (no summary; what it answered is kept)."""

    def __init__(self, message: str, workflow_id: str, summary: SwarmResult | None) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.summary = summary
        self.stopped = False
