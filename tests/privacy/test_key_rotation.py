"""Key rotation: a ticket started under the old key waits for review while a new key becomes
current; it completes, its status reads, and its history replays with both keys in the ring. A
ring without the old key fails with an error naming it.

On the dev server: the time-skipping server does not hand a workflow to a new worker after the
old one shut down. Not under ``replay_check``: that replays with the suite's one-key ring, which
is the point here.
"""

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from api.customer_message import customer_ticket
from policy.transitions import TicketState
from shared import names
from shared import operations as ops
from shared.agents import Priority
from shared.batch import BatchProgress, BatchSettings, BatchState
from shared.data_converter import data_converter
from shared.encryption.codec import KEY_ID_METADATA
from shared.operation_errors import TicketUnreadable
from shared.report import build_report
from shared.review import ReviewAction, ReviewDecision
from shared.ticket_listing import list_tickets
from shared.ticket_summary import TicketSummary
from shared.view import TicketView
from tests.support.batches import all_closed, tickets
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.keys import make_key_ring
from tests.support.temporal import PAYLOAD_DIR, PAYLOAD_DRIVER, status, wait_for_state, wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import fake_pipeline
from workflows import ALL_WORKFLOWS

OLD, NEW = "test-k1", "test-k2"
OTHER_SDK = RawValue(Payload(metadata={"encoding": b"json/x-other-sdk"}, data=b'"kept"'))


def client_with(env_client: Client, *ring_ids: str) -> Client:
    converter = data_converter(
        PAYLOAD_DRIVER,
        env={"TICKETS_DATA_DIR": str(PAYLOAD_DIR)},
        key_ring=make_key_ring(*ring_ids),
    )
    config: dict[str, Any] = {**env_client.config(), "data_converter": converter}
    return Client(**config)


def key_ids_in(history_json: str) -> set[str]:
    found = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            metadata = node.get("metadata")
            if isinstance(metadata, dict) and KEY_ID_METADATA in metadata:
                found.add(base64.b64decode(metadata[KEY_ID_METADATA]).decode())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return found


async def test_a_ticket_started_under_the_old_key_completes_and_replays_after_rotation(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    before = client_with(dev_env.client, OLD)
    after = client_with(dev_env.client, NEW, OLD)
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    activities = agents.activities() + services.activities()
    ticket = make_ticket(subject="Rotation check for order 4711")

    async with fake_pipeline(before, task_queue, activities, llm_queue=services.agent_queue):
        handle = await start_ticket(before, task_queue, ticket)
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    # The new key is current everywhere now: new workers, new clients.
    async with fake_pipeline(after, task_queue, activities, llm_queue=services.agent_queue):
        rotated = after.get_workflow_handle(handle.id, result_type=TicketView)
        await rotated.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.APPROVE)
        )
        result = await rotated.result()
        view = await status(rotated)

    assert result.state is TicketState.COMPLETED
    assert view.subject == "Rotation check for order 4711"
    history = await rotated.fetch_history()
    assert key_ids_in(history.to_json()) == {OLD, NEW}
    await Replayer(workflows=ALL_WORKFLOWS, data_converter=after.data_converter).replay_workflow(
        history
    )
    # Retired too early: replay (like a worker) cannot read the old payloads. The replayer's
    # failure is itself encoded, so its type is what shows; the message naming the key id is
    # checked on the codec directly (test_encryption).
    retired = client_with(dev_env.client, NEW).data_converter
    with pytest.raises(Exception, match="UnknownEncryptionKey"):
        await Replayer(workflows=ALL_WORKFLOWS, data_converter=retired).replay_workflow(history)


async def test_a_ticket_this_process_cannot_decrypt_is_named_and_never_hides_the_others(
    dev_env: WorkflowEnvironment,
) -> None:
    """An API process whose ring lacks the worker's key (a rotation step done out of order):
    once, the ticket's page was a 500, and every list, queue and report holding it too."""
    tag = uuid.uuid4().hex[:8]
    writer, reader = client_with(dev_env.client, OLD), client_with(dev_env.client, NEW)
    hidden = make_ticket(ticket_id=f"T-OLDKEY-{tag}", subject="Written under the old key")
    readable = make_ticket(ticket_id=f"T-NEWKEY-{tag}", subject="Written under the new key")
    await ops.start_ticket(writer, hidden, task_queue=f"nobody-{tag}")
    await ops.start_ticket(reader, readable, task_queue=f"nobody-{tag}")

    with pytest.raises(TicketUnreadable, match=f"ticket {hidden.ticket_id} cannot be decrypted"):
        await customer_ticket(reader, hidden.ticket_id)

    async def both_listed() -> list[TicketSummary] | None:
        listed = await list_tickets(reader, since=datetime.now(UTC) - timedelta(minutes=5))
        mine = [t for t in listed if t.ticket_id.endswith(tag)]
        return mine if len(mine) == 2 else None

    mine = {t.ticket_id: t for t in await wait_until(both_listed, what="both tickets listed")}
    assert mine[readable.ticket_id].subject == "Written under the new key"
    assert mine[hidden.ticket_id].subject is None  # shown, without what cannot be read
    # ... and said to be unreadable, so a report does not pass its totals off as the whole.
    assert [mine[t.ticket_id].unreadable for t in (hidden, readable)] == [True, False]
    assert build_report(list(mine.values())).unreadable == 1
    for ticket in (hidden, readable):
        await dev_env.client.get_workflow_handle(f"ticket-{ticket.ticket_id}").terminate()


async def test_a_batch_continued_as_new_after_rotation_holds_its_memo_under_the_new_key(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A batch started before the rotation continues as new after it: the server copied the
    first run's memo bytes into every later run, still under the old key, so retiring that key
    (once each later run was younger than the retention) stopped the batch at its next run,
    whose memo the worker could not decrypt (a review, 2026-12-07). Swarms likewise."""
    before = client_with(dev_env.client, OLD)
    after = client_with(dev_env.client, NEW, OLD)
    agents, services = FakeAgents(), FakeTicketServices()
    activities = agents.activities() + services.activities()
    batch = tickets(4)
    state = BatchState(settings=BatchSettings(window=2, tickets_per_run=2))
    handle = await before.start_workflow(
        names.BATCH_WORKFLOW,
        args=[batch, state],
        id=f"batch-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=BatchProgress,
        # A value another SDK set (an encoding this one cannot read) is carried as it is.
        memo={"input_digest": "digest-of-the-input", "set_elsewhere": OTHER_SDK},
    )
    async with fake_pipeline(after, task_queue, activities, llm_queue=services.agent_queue):
        # Bounded: a memo the worker cannot convert failed its workflow task at every try.
        rotated = after.get_workflow_handle(handle.id, result_type=BatchProgress)
        result = await asyncio.wait_for(rotated.result(), timeout=60)
        await all_closed(after, batch)

    assert result.settled == {"COMPLETED": 4}
    latest = await client_with(dev_env.client, NEW).get_workflow_handle(handle.id).describe()
    assert latest.run_id != handle.result_run_id
    fields = latest.raw_description.workflow_execution_info.memo.fields
    assert {f.metadata[KEY_ID_METADATA].decode() for f in fields.values()} == {NEW}
    # Readable with the new key alone.
    assert await latest.memo_value("input_digest") == "digest-of-the-input"
    (carried,) = await client_with(dev_env.client, NEW).data_converter.payload_codec.decode(  # type: ignore[union-attr]
        [fields["set_elsewhere"]]
    )
    assert carried == OTHER_SDK.payload
