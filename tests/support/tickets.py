"""Starting tickets in tests."""

import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from shared import names
from shared.tickets import Ticket
from shared.view import TicketRequest, TicketView


def make_ticket(**fields: Any) -> Ticket:
    defaults: dict[str, Any] = {
        "ticket_id": f"T-{uuid.uuid4().hex[:10]}",
        "subject": "Cannot reset my password",
        "body": "The reset e-mail never arrives. What should I do?",
    }
    return Ticket(**(defaults | fields))


async def start_ticket(
    client: Client,
    task_queue: str,
    ticket: Ticket,
    task_timeout: timedelta | None = None,
    memo: dict[str, Any] | None = None,
) -> WorkflowHandle[Any, Any]:
    """``task_timeout``: the workflow task's (10 s by default); a task that runs a local
    activity reports in at four fifths of it, which is when it sees a cancel request.
    ``memo``: what a starter puts there (say a restart's earlier_runs_usage)."""
    return await client.start_workflow(
        names.TICKET_WORKFLOW,
        TicketRequest(ticket=ticket),
        id=names.ticket_workflow_id(ticket.ticket_id),
        task_queue=task_queue,
        result_type=TicketView,
        task_timeout=task_timeout,
        memo=memo,
    )
