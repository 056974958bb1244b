"""A ticket whose stored payloads this process cannot read (another machine's data directory, a
process without the workers' database) is a ticket that cannot be read here, said with the
reason: `status` and the API's 502. It was an exception nobody named, and the API's 500."""

import shutil
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from shared.data_converter import data_converter
from shared.operation_errors import TicketUnreadable
from shared.ticket_status import read_ticket
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.tickets import make_ticket
from tests.support.workers import ticket_on_fakes


async def test_a_ticket_whose_stored_payloads_are_gone_is_unreadable_with_the_reason(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # Every payload leaves the history (a threshold of one byte), into this test's own store.
    converter = data_converter(env={"TICKETS_DATA_DIR": str(tmp_path)}, threshold=1, key_ring=None)
    client = Client(
        ts_env.client.service_client, namespace=ts_env.client.namespace, data_converter=converter
    )
    ticket = make_ticket()
    async with ticket_on_fakes(client, task_queue, FakeAgents(), FakeTicketServices(), ticket) as (
        handle
    ):
        await handle.result()
    assert (await read_ticket(client, ticket.ticket_id)).view.ticket_id == ticket.ticket_id

    shutil.rmtree(tmp_path / "payloads")  # read from a machine that does not hold them

    with pytest.raises(TicketUnreadable) as unreadable:
        await read_ticket(client, ticket.ticket_id)
    said = str(unreadable.value)
    assert said.startswith(
        f"ticket {ticket.ticket_id} refers to a payload kept outside its history that cannot be "
        "read here: payload "
    ), said
    assert "TICKETS_DATA_DIR" in said  # the store's own hint: what to check
