"""Non-LLM activities of the ticket pipeline: configuration snapshot, knowledge base, and the
batch's check on tickets that went quiet. Delivery is in ``activities.delivery``."""

import asyncio
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.heartbeat import heartbeating
from activities.knowledge_base import KnowledgeBase
from shared import names
from shared import search_attributes as sa
from shared.agents import KnowledgeArticle, KnowledgeQuery
from shared.batch import (
    REPLACED,
    RestartsDone,
    TicketCheck,
    TicketRestart,
    TicketRestarts,
    TicketSettled,
)
from shared.business_hours_zone import snapshot
from shared.operations import start_ticket, started_by_this
from shared.pipeline_config import PipelineConfig
from shared.tickets import Ticket


class TicketActivities:
    """Registered on the tickets task queue, next to the workflows."""

    def __init__(self, config: PipelineConfig, knowledge_base: KnowledgeBase) -> None:
        self._config = config
        self._kb = knowledge_base

    @activity.defn(name=names.LOAD_PIPELINE_CONFIG)
    async def load_pipeline_config(self) -> PipelineConfig:
        if self._config.business_hours is None:
            return self._config
        # The zone's offsets around now, for the ticket's SLA in business hours: read from the
        # time-zone database (a file; computed once a day per zone), off the event loop.
        return await asyncio.to_thread(snapshot, self._config, datetime.now(UTC))

    @activity.defn(name=names.SEARCH_KNOWLEDGE_BASE)
    async def search_knowledge_base(self, query: KnowledgeQuery) -> list[KnowledgeArticle]:
        return self._kb.search(query)

    def all(self) -> list[object]:
        return [
            self.load_pipeline_config,
            self.search_knowledge_base,
            check_tickets,
            restart_ticket,
            restart_tickets,
        ]


# Tickets described at once by the batch's check: a few round trips in parallel, not a window's.
CHECKS_AT_ONCE = 16


@activity.defn(name=names.CHECK_TICKETS)
async def check_tickets(check: TicketCheck) -> list[TicketSettled]:
    """The tickets whose workflows are closed, with how they closed: for a batch whose
    in-flight tickets went quiet (one terminated by an operator never reports in). Described
    CHECKS_AT_ONCE at a time: one after another, a window of 1,000 against a server 130 ms away
    took longer than the activity's two minutes on every attempt, and the check never ended."""
    client = activity.client()
    limit = asyncio.Semaphore(CHECKS_AT_ONCE)
    batch_id = activity.info().workflow_id
    # Whether each batch run a restart's memo names is another batch's, asked once per run.
    runs = _RunsSeen()

    async def closed_as(ticket_id: str) -> TicketSettled | None:
        handle = client.get_workflow_handle(names.ticket_workflow_id(ticket_id))
        async with limit:
            try:
                described = await handle.describe()
            except RPCError as err:
                if err.status is RPCStatusCode.NOT_FOUND:
                    return TicketSettled(ticket_id=ticket_id, state="NOT_FOUND")
                raise
            finally:
                activity.heartbeat()
            status = described.status
            elsewhere = status is WorkflowExecutionStatus.RUNNING and await _started_elsewhere(
                client, described, batch_id, runs
            )
        if elsewhere:
            # Not the run this batch started: it does not report here, and it held the place
            # until it closed (a run waiting for a person, until its review).
            return TicketSettled(ticket_id=ticket_id, state=REPLACED)
        if status is None or status is WorkflowExecutionStatus.RUNNING:
            return None
        # The ticket's own word for a cancellation, so the batch counts both the same.
        state = "CANCELLED" if status is WorkflowExecutionStatus.CANCELED else status.name
        return TicketSettled(ticket_id=ticket_id, state=state)

    # A TaskGroup: a describe that fails cancels the others (the attempt is over; its retry
    # describes them again), where gather left them running beside it.
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(closed_as(t)) for t in check.ticket_ids]
    except BaseExceptionGroup as failed:  # the first describe's error, as it was raised
        raise failed.exceptions[0] from None
    return [settled for task in tasks if (settled := task.result()) is not None]


async def _started_elsewhere(
    client: Client,
    described: WorkflowExecutionDescription,
    batch_id: str,
    runs: "_RunsSeen",
) -> bool:
    """Whether a ticket's running workflow was started outside the batch ``batch_id``: neither
    as its child nor by one of its runs' restart activities (whose memo names that run; each
    run looked up once, in ``runs``). A memo this process cannot read, or a run it cannot look
    up now, counts as the batch's: the place is then held as before, never freed for a run
    that may still report."""
    if described.parent_id is not None:
        return described.parent_id != batch_id
    try:
        memo = await described.memo()
    except Exception:  # a key this process lacks, a payload it cannot reach: the batch's
        return False
    started_by = memo.get(sa.MEMO_STARTED_BY)
    if not isinstance(started_by, str):
        return True  # `submit`, the API, `redrive`: no parent, no restarting activity
    run_id = started_by.split("/", 1)[0]
    async with runs.lock:
        if run_id not in runs.answers:
            runs.answers[run_id] = await _another_batch_s(client, batch_id, run_id)
        return runs.answers[run_id]


class _RunsSeen:
    """What the check learnt of the batch runs restarts' memos name, one lookup per run."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.answers: dict[str, bool] = {}


async def _another_batch_s(client: Client, batch_id: str, run_id: str) -> bool:
    """Whether ``run_id`` is no run of the batch ``batch_id`` (another batch's restart)."""
    try:
        await client.get_workflow_handle(batch_id, run_id=run_id).describe()
    except RPCError as err:
        return err.status is RPCStatusCode.NOT_FOUND
    except Exception:
        return False
    return False


def _started_by() -> str:
    """What the runs this activity starts carry in their memo (``started_by``): the same for
    every attempt of it, so a retry knows the runs an earlier attempt started."""
    info = activity.info()
    return f"{info.workflow_run_id}/{info.activity_id}"


@activity.defn(name=names.RESTART_TICKET)
async def restart_ticket(restart: TicketRestart) -> bool:
    """Start a batch's ticket whose id an ended run holds, as ``submit`` does
    (shared/operations.py start_ticket): started again only when that run ended without an
    answer and is the same ticket, carrying what the ended runs spent and naming the runs it
    replaces (an answer one of them sent is not sent twice). True when it started; False when
    the id's holder runs, completed, or is another ticket. A retry after a start whose answer
    was lost finds the run that start made (its memo names this activity) and says started."""
    outcome = await start_ticket(
        activity.client(),
        restart.ticket,
        task_queue=restart.task_queue,
        batch_id=restart.batch_id,
        fairness=restart.fairness_key,
        started_by=_started_by(),
        raw=restart.raw,
    )
    return outcome.started


# Tickets of one group started again at once: a few round trips in parallel, not a hundred.
RESTARTS_AT_ONCE = 8
# One ticket's start (a start, a describe, at most one more start), at most; and the pauses
# before its next tries when it fails. A ticket that fails every try is reported failed, and the
# others' outcomes stand: the activity retries only as a whole (a lost worker, an old worker
# that does not know it), which a ticket's failure would otherwise bring about for them all.
RESTART_SECONDS = 20.0
RESTART_PAUSES = (1.0, 4.0)


def _error_kind(err: Exception) -> str:
    """What went wrong, for the batch's log: the error's kind and the server's status, never the
    ticket's text."""
    if isinstance(err, RPCError):
        return f"RPCError {err.status.name}"
    return type(err).__name__


async def _took_effect(client: Client, ticket: Ticket, started_by: str) -> bool:
    """After a ticket's last try failed: whether one of its starts took effect anyway (a try
    that timed out after the server accepted it; the tries before the last find it when they
    look the id up, the last had no one after it). It ran, counted as failed to restart, and
    its window place was given up while it ran. False when that cannot be known either."""
    try:
        async with asyncio.timeout(RESTART_SECONDS):
            return await started_by_this(client, ticket, started_by)
    except Exception:
        return False


@activity.defn(name=names.RESTART_TICKETS)
async def restart_tickets(restarts: TicketRestarts) -> RestartsDone:
    """``restart_ticket`` for the refused starts of one batch group at once (a batch
    resubmitted after most of its tickets completed refuses a start per ticket: an activity each
    cost the server a task and three events per ticket). Each ticket is started again only when
    an ended run without an answer holds its id (shared/operations.py start_ticket). A ticket
    whose start fails is tried again here (RESTART_PAUSES) and then reported failed. The
    activity's own retry (its worker lost) finds the runs an earlier attempt started by the
    memo's ``started_by`` and never starts them twice."""
    client = activity.client()
    started_by = _started_by()
    limit = asyncio.Semaphore(RESTARTS_AT_ONCE)
    started: set[str] = set()
    failed: dict[str, str] = {}
    conflicts: set[str] = set()

    async def restart(ticket: Ticket) -> None:
        async with limit:
            for pause in (*RESTART_PAUSES, None):
                try:
                    async with asyncio.timeout(RESTART_SECONDS):
                        outcome = await start_ticket(
                            client,
                            ticket,
                            task_queue=restarts.task_queue,
                            batch_id=restarts.batch_id,
                            fairness=restarts.fairness_keys.get(ticket.ticket_id),
                            started_by=started_by,
                            raw=restarts.raw_inputs.get(ticket.ticket_id),
                        )
                except Exception as err:  # this ticket's failure, not the others'
                    if pause is None:
                        if await _took_effect(client, ticket, started_by):
                            started.add(ticket.ticket_id)
                        else:
                            failed[ticket.ticket_id] = _error_kind(err)
                        return
                    await asyncio.sleep(pause)
                else:
                    if outcome.started:
                        started.add(ticket.ticket_id)
                    elif outcome.conflict:
                        conflicts.add(ticket.ticket_id)
                    return

    async with heartbeating():
        await asyncio.gather(*(restart(t) for t in restarts.tickets))
    order = [t.ticket_id for t in restarts.tickets]
    return RestartsDone(
        started=[i for i in order if i in started],
        failed=failed,
        conflicts=[i for i in order if i in conflicts],
    )
