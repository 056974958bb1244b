"""A ticket whose worker fails its status query, read over HTTP: 502 naming the ticket (the
error itself and the waits are in tests/integration/test_ticket_unreadable.py)."""

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from shared import names
from shared.tickets import Ticket
from shared.view import TicketRequest
from tests.api.helpers import routine_ticket, unique_id
from tests.support.api_server import Tokens, bearer
from tests.support.unreadable_ticket_workflow import UnreadableTicketFake


async def test_a_ticket_whose_worker_fails_its_status_query_is_a_502_naming_it(
    http: httpx.AsyncClient, tokens: Tokens, api_temporal: Client
) -> None:
    ticket_id, queue = unique_id("UNREADABLE"), f"unreadable-{unique_id()}"
    fields = {k: v for k, v in routine_ticket(ticket_id).items() if k != "id"}
    request = TicketRequest(ticket=Ticket(ticket_id=ticket_id, **fields))
    async with Worker(api_temporal, task_queue=queue, workflows=[UnreadableTicketFake]):
        handle = await api_temporal.start_workflow(
            UnreadableTicketFake.run,
            request,
            id=names.ticket_workflow_id(ticket_id),
            task_queue=queue,
        )
        try:
            read = await http.get(f"/tickets/{ticket_id}", headers=bearer(tokens.review))
        finally:
            await handle.terminate()

    assert read.status_code == 502, read.text
    assert f"could not answer the status query for ticket {ticket_id}" in read.json()["message"]
