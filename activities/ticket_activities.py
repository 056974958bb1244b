"""Non-LLM activities of the ticket pipeline: configuration snapshot, knowledge base, and the
batch's check on tickets that went quiet. Delivery is in ``activities.delivery``."""

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.knowledge_base import KnowledgeBase
from shared import names
from shared.agents import KnowledgeArticle, KnowledgeQuery
from shared.batch import TicketCheck, TicketRestart, TicketSettled
from shared.operations import start_ticket
from shared.pipeline_config import PipelineConfig


class TicketActivities:
    """Registered on the tickets task queue, next to the workflows."""

    def __init__(self, config: PipelineConfig, knowledge_base: KnowledgeBase) -> None:
        self._config = config
        self._kb = knowledge_base

    @activity.defn(name=names.LOAD_PIPELINE_CONFIG)
    async def load_pipeline_config(self) -> PipelineConfig:
        return self._config

    @activity.defn(name=names.SEARCH_KNOWLEDGE_BASE)
    async def search_knowledge_base(self, query: KnowledgeQuery) -> list[KnowledgeArticle]:
        return self._kb.search(query)

    def all(self) -> list[object]:
        return [
            self.load_pipeline_config,
            self.search_knowledge_base,
            check_tickets,
            restart_ticket,
        ]


@activity.defn(name=names.CHECK_TICKETS)
async def check_tickets(check: TicketCheck) -> list[TicketSettled]:
    """The tickets whose workflows are closed, with how they closed: for a batch whose
    in-flight tickets went quiet (one terminated by an operator never reports in)."""
    client = activity.client()
    closed = []
    for ticket_id in check.ticket_ids:
        handle = client.get_workflow_handle(names.ticket_workflow_id(ticket_id))
        try:
            described = await handle.describe()
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                closed.append(TicketSettled(ticket_id=ticket_id, state="NOT_FOUND"))
                continue
            raise
        status = described.status
        if status is not None and status is not WorkflowExecutionStatus.RUNNING:
            # The ticket's own word for a cancellation, so the batch counts both the same.
            state = "CANCELLED" if status is WorkflowExecutionStatus.CANCELED else status.name
            closed.append(TicketSettled(ticket_id=ticket_id, state=state))
        activity.heartbeat(ticket_id)
    return closed


@activity.defn(name=names.RESTART_TICKET)
async def restart_ticket(restart: TicketRestart) -> bool:
    """Start a batch's ticket whose id an ended run holds, as ``submit`` does
    (shared/operations.py start_ticket): started again only when that run ended without an
    answer and is the same ticket, carrying what the ended runs spent and naming the runs it
    replaces (an answer one of them sent is not sent twice). True when it started; False when
    the id's holder runs, completed, or is another ticket. A retry after a start whose answer
    was lost finds the run that start made (its memo names this activity) and says started."""
    info = activity.info()
    outcome = await start_ticket(
        activity.client(),
        restart.ticket,
        task_queue=restart.task_queue,
        batch_id=restart.batch_id,
        fairness=restart.fairness_key,
        started_by=f"{info.workflow_run_id}/{info.activity_id}",
    )
    return outcome.started
