"""A ticket whose worker fails the status query is reported as unreadable, naming the ticket
(the worker's own message is encrypted by the failure converter: its log says why), and a
review's trace lookup gives up rather than stop the review. The HTTP API's 502 is in
tests/api/test_api.py."""

import os
import uuid

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from policy.transitions import TicketState
from shared import names, review_operations
from shared import operations as ops
from shared.data_converter import data_converter
from shared.encryption.keyring import KeyRing
from shared.operation_errors import TicketUnreadable
from shared.review import ReviewAction, ReviewDecision
from shared.view import TicketView
from tests.support.tickets import make_ticket
from tests.support.unreadable_ticket_workflow import FinishedTicketFake, UnreadableTicketFake


async def test_a_status_query_the_worker_fails_is_reported_as_an_unreadable_ticket(
    dev_env: WorkflowEnvironment,
) -> None:
    tag = uuid.uuid4().hex[:8]
    ticket_id, queue = f"T-UNREADABLE-{tag}", f"unreadable-{tag}"
    client = dev_env.client
    async with Worker(client, task_queue=queue, workflows=[UnreadableTicketFake]):
        handle = await client.start_workflow(
            UnreadableTicketFake.run, id=names.ticket_workflow_id(ticket_id), task_queue=queue
        )
        try:
            with pytest.raises(TicketUnreadable) as raised:
                await ops.ticket_status(client, ticket_id)
            # A review is not sent unbound to the wait it was made in (nor with an update id
            # its retry could not repeat): it stops, saying so.
            with pytest.raises(TicketUnreadable) as unsent:
                await review_operations._view_of(client, ticket_id, running=True)
        finally:
            await handle.terminate()

    message = str(raised.value)
    assert f"could not answer the status query for ticket {ticket_id}" in message
    assert "the worker's log says why" in message
    assert str(unsent.value) == f"{message}; the review was not sent"


async def test_an_open_ticket_under_a_key_this_process_lacks_names_the_key(
    dev_env: WorkflowEnvironment,
) -> None:
    """The status query failed (here for the fake workflow's own reason) and this process
    cannot decrypt the ticket: it names the key it lacks, as for a closed ticket, rather than
    point at the worker's log. (The worker lacking it too is the next test.)"""
    tag = uuid.uuid4().hex[:8]
    ticket_id, queue = f"T-OLDKEY-{tag}", f"oldkey-{tag}"
    old, new = os.urandom(32), os.urandom(32)
    address = dev_env.client.service_client.config.target_host
    before = await Client.connect(
        address, data_converter=data_converter(key_ring=KeyRing("k-old", {"k-old": old}))
    )
    after = await Client.connect(
        address, data_converter=data_converter(key_ring=KeyRing("k-new", {"k-new": new}))
    )
    async with Worker(before, task_queue=queue, workflows=[UnreadableTicketFake]):
        handle = await before.start_workflow(
            UnreadableTicketFake.run,
            {"ticket": {"ticket_id": ticket_id}},
            id=names.ticket_workflow_id(ticket_id),
            task_queue=queue,
        )
        try:
            with pytest.raises(TicketUnreadable) as raised:
                await ops.ticket_status(after, ticket_id)
        finally:
            await handle.terminate()

    message = str(raised.value)
    assert f"ticket {ticket_id}'s status cannot be decrypted here" in message
    assert "k-old" in message
    assert old.hex() not in message


async def test_a_worker_lacking_the_tickets_key_is_named_by_status_and_review(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key retired while a ticket under it waited for review: the worker (same ring as the
    CLI) fails every task of it. `review` said "Unable to perform workflow execution update due
    to Workflow Task in failed state"; both now name the key."""
    tag = uuid.uuid4().hex[:8]
    ticket_id, queue = f"T-RETIRED-{tag}", f"retired-{tag}"
    address = dev_env.client.service_client.config.target_host
    before = await Client.connect(
        address, data_converter=data_converter(key_ring=KeyRing("k-1", {"k-1": os.urandom(32)}))
    )
    after = await Client.connect(
        address, data_converter=data_converter(key_ring=KeyRing("k-2", {"k-2": os.urandom(32)}))
    )
    handle = await before.start_workflow(
        UnreadableTicketFake.run,
        {"ticket": {"ticket_id": ticket_id}},
        id=names.ticket_workflow_id(ticket_id),
        task_queue=queue,
    )
    monkeypatch.setattr(review_operations, "workers_polling", _polled_fake)
    try:
        async with Worker(after, task_queue=queue, workflows=[UnreadableTicketFake]):
            with pytest.raises(TicketUnreadable) as status:
                await ops.ticket_status(after, ticket_id)
            decision = ReviewDecision(action=ReviewAction.APPROVE, reviewer="ana")
            # Unreadable, not refused (a 502 in the API, not a 409 an integration takes as
            # final); stopped before sending, as the review could not be bound to its wait.
            with pytest.raises(TicketUnreadable) as review:
                await review_operations.submit_review(after, ticket_id, decision)
    finally:
        await handle.terminate()

    assert "k-1" in str(status.value)
    assert "k-1" in str(review.value)
    assert str(review.value).endswith("; the review was not sent")


async def _polled_fake(client: Client) -> bool:
    return True


async def test_a_ticket_ended_under_a_retired_key_is_submitted_again(
    dev_env: WorkflowEnvironment,
) -> None:
    """Its memo cannot be read any more (the key retired): submitting it again failed with an
    AttributeError on the memo instead of starting it, as an ended ticket is."""
    tag = uuid.uuid4().hex[:8]
    ticket = make_ticket(ticket_id=f"T-ENDED-{tag}")
    address = dev_env.client.service_client.config.target_host
    before = await Client.connect(
        address, data_converter=data_converter(key_ring=KeyRing("k-1", {"k-1": os.urandom(32)}))
    )
    after = await Client.connect(
        address, data_converter=data_converter(key_ring=KeyRing("k-2", {"k-2": os.urandom(32)}))
    )
    queue = f"nobody-{tag}"
    first = await ops.start_ticket(before, ticket, task_queue=queue)
    handle = after.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))
    await handle.terminate()  # ended without an answer

    again = await ops.start_ticket(after, ticket, task_queue=queue)
    await handle.terminate()

    assert first.started and again.started


async def test_a_completed_tickets_status_is_its_result_read_with_no_worker_running(
    dev_env: WorkflowEnvironment,
) -> None:
    """No worker answers, and the status query would fail if asked: the view comes from the
    history's last event."""
    tag = uuid.uuid4().hex[:8]
    ticket_id, queue = f"T-FINISHED-{tag}", f"finished-{tag}"
    client = dev_env.client
    view = TicketView(ticket_id=ticket_id, subject="Invoice", state=TicketState.COMPLETED)
    async with Worker(client, task_queue=queue, workflows=[FinishedTicketFake]):
        await client.execute_workflow(
            FinishedTicketFake.run, view, id=names.ticket_workflow_id(ticket_id), task_queue=queue
        )
    # The worker has stopped.

    assert await ops.ticket_status(client, ticket_id) == view
