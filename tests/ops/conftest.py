"""A Temporal dev server of its own for the operations tests (health, replay, redrive, payload
garbage collection): their commands look at every workflow in the namespace, so no other test's
workflows may be there. And the outages the redrive and restart tests break and mend: the LLM
provider and the customer's webhook, with the real pipeline between them."""

import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from activities.delivery.activity import DeliveryActivities
from activities.delivery.config import WEBHOOK, DeliveryConfig, WebhookConfig
from policy.transitions import TicketState
from shared import names
from shared import operations as ops
from shared.data_converter import data_converter
from shared.delivery import idempotency_key, text_sha256
from shared.stores.ledger import LedgerEntry, NewDelivery
from shared.stores.sqlite_ledger import SqliteLedger
from shared.temporal_client import connect, connection_settings
from starter.embedded import EmbeddedServer
from tests.support.fake_llm import FakeLLMServer, Recorded, Reply, good_answers
from tests.support.llm_pipeline import llm_setup
from tests.support.processes import environment, free_port
from tests.support.temporal import wait_until
from tests.support.webhook_receiver import Received, WebhookReceiver, webhook_receiver
from tests.support.webhook_receiver import Reply as HookReply
from tests.support.workers import real_pipeline

SECRET = "redrive-test-webhook-secret"


@dataclass
class OpsServer:
    server: EmbeddedServer
    data_dir: Path  # its key file, and the default ledger and payload store
    env: dict[str, str]  # for CLI and worker processes: this server, this data directory
    client: Client  # the project's converter on this data directory (its key ring and payloads)


@pytest.fixture(scope="package")
async def ops_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OpsServer]:
    data_dir = tmp_path_factory.mktemp("ops")
    # The delivery ledger a worker of this data directory would have made at its start (its
    # stores open when it does, its schema current): `redrive` refuses to plan without one, and
    # its dry run migrates none.
    made = SqliteLedger(data_dir / "outbox.sqlite3")
    await made.count()
    await made.close()
    # A just-closed workflow deleted goes in seconds: the embedded server's own setting
    # (starter/embedded.py TRANSFER_ACK_INTERVAL).
    server = EmbeddedServer(data_dir, "127.0.0.1", free_port(), ui=False)
    await server.start()
    env = environment(server.address, data_dir)
    try:
        client = await connect(connection_settings(env), converter=data_converter(env=env))
        yield OpsServer(server, data_dir, env, client)
    finally:
        await server.stop()


@dataclass
class Outages:
    """What the test breaks and mends: the LLM provider and the customer's webhook."""

    fake: FakeLLMServer
    receiver: WebhookReceiver
    ledger: SqliteLedger
    provider_down: threading.Event
    webhook_refuses: threading.Event
    # The agents (by output model) the provider refuses: the others still answer.
    down_for: set[str]


@pytest.fixture(scope="module")
async def outages(ops_server: OpsServer) -> AsyncIterator[Outages]:
    provider_down, webhook_refuses = threading.Event(), threading.Event()
    down_for: set[str] = set()

    def llm(request: Recorded) -> Reply:
        if provider_down.is_set() or request.output_name in down_for:
            return Reply(status=400, error_type="invalid_request_error", error_message="outage")
        return good_answers(request)

    def hook(request: Received, earlier: int) -> HookReply:
        return (
            HookReply(status=400, body="mailbox closed")
            if webhook_refuses.is_set()
            else HookReply()
        )

    ledger = SqliteLedger(ops_server.data_dir / "outbox.sqlite3")
    with FakeLLMServer() as fake, webhook_receiver(hook) as receiver:
        fake.responder = llm
        setup = llm_setup(fake)
        delivery = DeliveryActivities(
            ledger,
            DeliveryConfig(default_method=WEBHOOK, webhook=WebhookConfig(receiver.url, SECRET)),
        )
        async with real_pipeline(
            ops_server.client,
            names.TICKETS_TASK_QUEUE,
            ops_server.data_dir,
            setup.config,
            setup.settings,
            setup.env,
            delivery=delivery,
        ):
            yield Outages(fake, receiver, ledger, provider_down, webhook_refuses, down_for)
        await delivery.aclose()


async def listed_as_failed(client: Client, workflow_id: str) -> None:
    """Until the visibility listing, which `redrive` and `list` read, shows the run FAILED: it
    follows the workflow's own state a moment later."""

    async def listed() -> bool:
        query = f"WorkflowId = '{workflow_id}' AND ExecutionStatus = 'Failed'"
        return [e async for e in client.list_workflows(query)] != []

    await wait_until(listed, what=f"{workflow_id} listed as failed")


async def failed_while_down(
    client: Client, outages: Outages, ticket: Any, keyed: bool = False
) -> WorkflowHandle[Any, Any]:
    """Start the ticket while the provider refuses every call; once it has FAILED (and is
    listed so), mend it."""
    outages.provider_down.set()
    try:
        await ops.start_ticket(client, ticket, keyed=keyed)
        handle = client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    finally:
        outages.provider_down.clear()
    await listed_as_failed(client, handle.id)
    return handle


async def failed_with_an_answer_recorded(
    client: Client, outages: Outages, ticket: Any, text: str
) -> LedgerEntry:
    """The ticket FAILED (``failed_while_down``), and ``text`` recorded in the ledger as its
    run's answer under that run's chain, by webhook, as a run that decided it would have left it
    (nothing sent yet: the caller says what became of it)."""
    handle = await failed_while_down(client, outages, ticket)
    chain = (await handle.describe()).raw_description.workflow_execution_info.first_run_id
    digest = text_sha256(text)
    entry, _ = await outages.ledger.record(
        NewDelivery(
            ticket_id=ticket.ticket_id,
            channel=ticket.channel,
            customer_id=ticket.customer_id,
            revision=1,
            body=text,
            text_sha256=digest,
            idempotency_key=idempotency_key(ticket.ticket_id, digest, chain),
            sent_via=WEBHOOK,
            chain=chain,
        )
    )
    return entry


async def settled(client: Client, ticket_id: str) -> Any:
    view = await ops.ticket_status(client, ticket_id)
    return view if view.state in (TicketState.COMPLETED, TicketState.FAILED) else None


async def failed_after_classifying(client: Client, outages: Outages, ticket: Any) -> Any:
    """Start the ticket while the provider refuses triage only: it is classified (and that
    call paid for), then fails. Its summary as `list` shows it."""
    outages.down_for.add("TriageResult")
    try:
        await ops.start_ticket(client, ticket)
        handle = client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    finally:
        outages.down_for.clear()
    await listed_as_failed(client, handle.id)
    return await ops.describe_ticket(client, ticket.ticket_id)
