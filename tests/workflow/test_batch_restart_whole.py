"""A batch's ticket listed with a field this version does not know, whose id an ended run holds:
started again with its input whole (``restarts-send-whole``), so its workflow names the field
(and a newer worker would read it), as a first start of such a ticket does
(``unknown-fields-left-out``). The restart sent the ticket as this version reads it, and the
field went unnamed. On the dev server."""

import uuid
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.batch import BatchSettings
from tests.support.batches import all_closed, start_batch, tickets
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids, status
from tests.support.tickets import start_ticket
from tests.support.workers import fake_pipeline
from workflows.batch_patches import RESTARTS_SEND_WHOLE


@pytest.mark.usefixtures("replay_check")
async def test_a_restarted_ticket_with_a_newer_field_is_started_whole_and_names_it(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    agents, services = FakeAgents(), FakeTicketServices()
    ticket, plain = tickets(2)
    # Its id held by a run that ended without an answer (started where no worker polls).
    ended = await start_ticket(client, f"nobody-{uuid.uuid4().hex[:6]}", ticket)
    await ended.terminate("ended before the batch")
    newer: dict[str, Any] = {**ticket.model_dump(mode="json"), "order_id": "ORD-1"}
    activities = agents.activities() + services.activities()
    async with fake_pipeline(client, task_queue, activities, services.agent_queue):
        handle = await start_batch(client, task_queue, [newer, plain], BatchSettings(window=2))
        result = await handle.result()
        await all_closed(client, [ticket, plain])
        view = await status(client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id)))
        history = await handle.fetch_history()

    assert (result.started, result.settled) == (2, {"COMPLETED": 2})
    assert view.state is TicketState.COMPLETED
    assert view.ignored_input_fields == ["ticket.order_id"]
    assert RESTARTS_SEND_WHOLE in patch_ids(history.events)
