"""The customer's message, read from the ticket workflow's input.

The workflow's view (the status query) holds the subject but not the body: the body is the
ticket's input, recorded once in the first event of its history. Reading one event, decoded with
the client's own data converter (so large or encrypted payloads decode as everywhere else), costs
one small RPC and keeps customer text out of the workflow's state.
"""

from pydantic import ValidationError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from shared import names
from shared.encryption.codec import (
    PayloadDecryptionError,
    UnknownEncryptionKey,
    why_undecryptable,
)
from shared.operation_errors import TicketNotFound, TicketUnreadable
from shared.tickets import Ticket
from shared.validation import fields
from shared.view import TicketRequest


class InputUnreadable(Exception):
    """The ticket's input does not validate as a ticket today (a workflow started with fields
    the model refuses). Names the fields only: pydantic's own text quotes their values."""

    def __init__(self, ticket_id: str, err: ValidationError) -> None:
        super().__init__(f"ticket {ticket_id}'s input is not readable: fields {fields(err)}")


async def customer_ticket(client: Client, ticket_id: str, run_id: str | None = None) -> Ticket:
    """The message of the ticket's run ``run_id``, or of its newest run. A page that shows a
    run's status passes that run's id: a ticket started again under its id (with other words)
    between the two reads showed the new message beside the old run's draft."""
    try:
        response = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(
                    workflow_id=names.ticket_workflow_id(ticket_id), run_id=run_id or ""
                ),
                maximum_page_size=1,
            )
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise TicketNotFound(
                f"no ticket {ticket_id} on this server (namespace {client.namespace})"
            ) from None
        raise
    started = response.history.events[0].workflow_execution_started_event_attributes
    try:
        [request] = await client.data_converter.decode(started.input.payloads, [TicketRequest])
    except (UnknownEncryptionKey, PayloadDecryptionError) as err:
        raise TicketUnreadable(
            f"ticket {ticket_id} cannot be decrypted here: {why_undecryptable(err)}"
        ) from None
    except ValidationError as err:
        raise InputUnreadable(ticket_id, err) from None
    assert isinstance(request, TicketRequest)
    return request.ticket
