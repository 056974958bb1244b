"""``erase`` on the private stack (tests/support/private_stack.py): one customer's tickets (and
the orchestrator children of a complex one), ledger rows and stored payloads go, by customer id
or by e-mail address, a batch's ticket's answer that the batch owned in the payload store too;
another customer's stay."""

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.worker import Replayer

from shared import names
from shared.batch import BatchState
from shared.history_references import workflow_exists
from shared.payload_gc import REPLAYER_NAMESPACE
from shared.stores.errors import PayloadMissing
from shared.stores.ledger import NewDelivery
from shared.stores.payloads_file import FilePayloadDriver
from shared.stores.sqlite_ledger import SqliteLedger
from starter.erase_batch_results import held_by_batch, referred_to
from starter.replay import new_replayer
from tests.stores.conftest import delivery
from tests.support.browser import Screenshots, browser, browser_context, screenshots  # noqa: F401
from tests.support.private_stack import (
    CUSTOMER,
    MARK,
    OTHER_CUSTOMER,
    RUN,
    PrivateStack,
    rested_view,
)
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket, start_ticket
from workflows import ALL_WORKFLOWS

pytestmark = pytest.mark.integration


async def test_erasing_a_customer_removes_their_tickets_children_rows_and_payloads(
    stack: PrivateStack, tickets: dict[str, str]
) -> None:
    sample = json.loads(Path("samples/tickets.jsonl").read_text().splitlines()[19])
    assert sample["ticket_id"] == "T-1027"  # a long account: triage marks it complex
    complex_ticket = make_ticket(
        subject=sample["subject"], body=sample["body"], customer_id=CUSTOMER
    )
    kept_ticket = make_ticket(subject="Invoice copy", customer_id=OTHER_CUSTOMER)
    # Urgent: it waits for a person, running, as it is erased.
    waiting_ticket = make_ticket(
        subject="Production is down", body="Outage for all users, urgent!", customer_id=CUSTOMER
    )
    handles = [
        await start_ticket(stack.client, names.TICKETS_TASK_QUEUE, ticket)
        for ticket in (complex_ticket, kept_ticket, waiting_ticket)
    ]
    for handle in handles:  # both run side by side
        await wait_until(
            lambda h=handle: rested_view(stack.client, h.id), timeout=90, what=handle.id
        )
    complex_view = await rested_view(
        stack.client, names.ticket_workflow_id(complex_ticket.ticket_id)
    )
    assert complex_view is not None and complex_view.orchestration is not None
    # Another run under the resolution's id that this ticket did not start (another ticket may
    # take a failed one's id): by the id alone, the erase deleted that run, the latest, and
    # left this ticket's own (with the customer's text) in place.
    resolution = complex_view.orchestration
    others = await stack.client.start_workflow(
        "LeftOverRun", id=resolution, task_queue="nobody-polls-this",
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )  # fmt: skip

    dry = await stack.cli("erase", "--customer-id", CUSTOMER, "--json")
    assert dry.code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["erased"] is False
    assert {t["ticket_id"] for t in plan["tickets"]} == {
        tickets["completed"],
        tickets["failed"],
        complex_ticket.ticket_id,
        waiting_ticket.ticket_id,
    }
    # Which were running (a ticket waiting for a person): erasing terminates them, and what an
    # activity already under way writes after is for a second erase (it was not said).
    running = {
        t["ticket_id"]: (await stack.client.get_workflow_handle(t["workflow_id"]).describe()).status
        is WorkflowExecutionStatus.RUNNING
        for t in plan["tickets"]
    }
    assert {t["ticket_id"]: t["running"] for t in plan["tickets"]} == running
    assert running[waiting_ticket.ticket_id], running
    children = next(t for t in plan["tickets"] if t["ticket_id"] == complex_ticket.ticket_id)
    assert (
        f"{names.ticket_workflow_id(complex_ticket.ticket_id)}/resolution" in children["children"]
    )
    assert plan["stored_payloads"] > 0
    assert await workflow_exists(stack.client, names.ticket_workflow_id(tickets["completed"]))

    done = await stack.cli("erase", "--customer-id", CUSTOMER, "--yes", "--json")
    assert done.code == 0, done.output
    report = json.loads(done.stdout)
    assert report["erased"] is True
    assert report["workflow_executions"] >= 3 + len(children["children"])
    assert set(report["ledger_rows"]) >= {tickets["completed"], complex_ticket.ticket_id}
    # At least what the dry run saw: a status query's large answer is stored too meanwhile.
    assert report["stored_payloads"] >= plan["stored_payloads"]
    store = FilePayloadDriver(stack.data_dir / "payloads")
    for t in plan["tickets"]:
        for owner in (t["workflow_id"], *t["children"]):
            assert await store.payloads_of(owner) == set()

    gone = await stack.cli("status", tickets["completed"])  # as a user would ask
    assert gone.code == 1 and f"no ticket {tickets['completed']}" in gone.stderr
    for t in plan["tickets"]:
        for workflow_id in (t["workflow_id"], *t["children"]):
            if workflow_id != resolution:
                assert not await workflow_exists(stack.client, workflow_id), workflow_id

    async def only_the_other_run_listed() -> bool:
        runs = stack.client.list_workflows(f"WorkflowId = '{resolution}'")
        return [r.run_id async for r in runs] == [others.first_execution_run_id]

    await wait_until(only_the_other_run_listed, what="this ticket's resolution run deleted")
    await others.terminate()
    assert await workflow_exists(stack.client, names.ticket_workflow_id(kept_ticket.ticket_id))


async def test_erasing_by_e_mail_address_finds_tickets_without_a_customer_id_in_any_case(
    stack: PrivateStack,
) -> None:
    # A data-subject request names an address; a web form's tickets carry only that address (no
    # customer id), and the e-mail route keeps the sender's as sent: `erase --customer-id` found
    # none of them, and their ledger rows (no customer id on them) stayed.
    address = f"Jane.Roe.{RUN}@Example.com"
    web = make_ticket(customer_email=address)  # answered at once: its answer is in the ledger
    mailed = make_ticket(customer_id=address.upper())
    other = make_ticket(customer_email=f"other.{RUN}@example.com")
    for ticket in (web, mailed, other):
        handle = await start_ticket(stack.client, names.TICKETS_TASK_QUEUE, ticket)
        await wait_until(
            lambda h=handle: rested_view(stack.client, h.id), timeout=90, what=handle.id
        )
    assert await _ledger_row(stack, web.ticket_id) is not None
    # An e-mailed ticket answered long ago: retention took its workflow, its row stays, under
    # its sender's address as the customer id. Found by no workflow, it was left behind.
    gone = f"T-GONE-{RUN}"
    row = delivery(gone)
    await _record_row(stack, NewDelivery(**{**row.__dict__, "customer_id": address}))

    dry = await stack.cli("erase", "--email", address, "--json")
    done = await stack.cli("erase", "--email", f" {address.lower()} ", "--yes", "--json")

    assert done.code == 0, done.output
    report = json.loads(done.stdout)
    assert {t["ticket_id"] for t in report["tickets"]} == {web.ticket_id, mailed.ticket_id}
    assert web.ticket_id in report["ledger_rows"]  # its row holds no customer id
    assert await _ledger_row(stack, web.ticket_id) is None
    assert gone in json.loads(dry.stdout)["ledger_rows"] and gone in report["ledger_rows"]
    assert await _ledger_row(stack, gone) is None
    for ticket in (web, mailed):
        assert not await workflow_exists(stack.client, names.ticket_workflow_id(ticket.ticket_id))
    assert await workflow_exists(stack.client, names.ticket_workflow_id(other.ticket_id))


async def test_erasing_a_batch_ticket_removes_its_answer_the_batch_owned(
    stack: PrivateStack, tmp_path: Path
) -> None:
    # A child's result is stored as its parent's (temporalio), so a batch's ticket's view, the
    # answer with it, was the batch's in the payload store, and erasure left it there. One the
    # batch's own history refers to (the ticket completed while the run that started it was
    # open) stays with the batch: without it the batch can no longer be replayed.
    customer = f"B-{RUN}"
    routine, urgent = f"TB-{RUN}", f"TU-{RUN}"
    lines = tmp_path / "batch.jsonl"
    lines.write_text(
        json.dumps({"ticket_id": routine, "subject": "Invoice copy", "customer_id": customer,
                    "body": f"Please send invoice 77 again. {MARK}"}) + "\n"
        + json.dumps({"ticket_id": urgent, "subject": "Account hacked - urgent",
                      "customer_id": customer, "body": "Someone changed the password on our "
                      "admin account and we are locked out. Please help immediately."}) + "\n"
    )  # fmt: skip
    # One at a time: the routine ticket completes while the batch runs (its result goes into
    # the batch's history); the urgent one waits for a person, the batch ends, then it completes.
    submitted = await stack.cli("batch", str(lines), "--window", "1", "--wait", "--json")
    assert submitted.code == 0, submitted.output
    batch_id = json.loads(submitted.stdout)["workflow_id"]
    approved = await stack.cli("review", urgent, "--approve")
    assert approved.code == 0, approved.output
    await wait_until(lambda: completed(stack, urgent), timeout=60, what="the approved ticket")
    store = FilePayloadDriver(stack.data_dir / "payloads")
    owned = await store.payloads_of(batch_id)
    results = {t: await ticket_refs(stack, t) & owned for t in (routine, urgent)}
    in_batch = await held_by_batch(stack.client, batch_id)
    assert in_batch is not None
    assert results[routine] and results[routine] <= in_batch
    assert results[urgent] and not results[urgent] & in_batch

    erased = await stack.cli("erase", "--customer-id", customer, "--yes", "--json")

    assert erased.code == 0, erased.output
    left = await store.payloads_of(batch_id)
    assert not results[urgent] & left
    for key in results[urgent]:
        with pytest.raises(PayloadMissing):
            await store.get_many([key])
    assert results[routine] <= left
    # The batch still replays (a running one would take its next workflow task).
    history = await stack.client.get_workflow_handle(batch_id).fetch_history()
    await new_replayer(stack.client, ALL_WORKFLOWS).replay_workflow(history)


async def ticket_refs(stack: PrivateStack, ticket_id: str) -> set[str]:
    workflow_id = names.ticket_workflow_id(ticket_id)
    runs = [r.run_id async for r in stack.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    return await referred_to(stack.client, workflow_id, runs)


async def completed(stack: PrivateStack, ticket_id: str) -> bool:
    handle = stack.client.get_workflow_handle(names.ticket_workflow_id(ticket_id))
    return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_erasing_a_customer_removes_what_a_storing_replayer_copied_of_their_tickets(
    stack: PrivateStack,
) -> None:
    # A replayer that stores (not set up to read only, as replayers were before) copies a
    # ticket's large payloads (its long body goes to every agent) under its own namespace, which
    # erase did not look at: the customer's text stayed until a gc-payloads run.
    customer = f"R-{RUN}"
    ticket = make_ticket(body=f"About {MARK}: " + "the order details. " * 150, customer_id=customer)
    handle = await start_ticket(stack.client, names.TICKETS_TASK_QUEUE, ticket)
    await wait_until(lambda: rested_view(stack.client, handle.id), timeout=90, what=handle.id)
    storing = Replayer(workflows=ALL_WORKFLOWS, data_converter=stack.client.data_converter)
    await storing.replay_workflow(await handle.fetch_history())
    store = FilePayloadDriver(stack.data_dir / "payloads")
    assert await replay_copies(store, handle.id)

    erased = await stack.cli("erase", "--customer-id", customer, "--yes", "--json")

    assert erased.code == 0, erased.output
    assert not await replay_copies(store, handle.id)


async def replay_copies(store: FilePayloadDriver, workflow_id: str) -> set[str]:
    return {
        o.sha256
        for o in await store.ownership()
        if o.owner_id == workflow_id and o.namespace == REPLAYER_NAMESPACE
    }


async def _ledger_row(stack: PrivateStack, ticket_id: str) -> Any:
    """The worker's ledger row for the ticket (its SQLite file in the data directory)."""
    ledger = SqliteLedger(stack.data_dir / "outbox.sqlite3")
    try:
        return await ledger.get(ticket_id)
    finally:
        await ledger.close()


async def _record_row(stack: PrivateStack, entry: NewDelivery) -> None:
    ledger = SqliteLedger(stack.data_dir / "outbox.sqlite3")
    try:
        await ledger.record(entry)
    finally:
        await ledger.close()


async def test_erasing_a_customer_a_running_batch_has_yet_to_start_says_so_and_fails(
    stack: PrivateStack,
) -> None:
    # A batch starts its tickets a window at a time: one of the customer's not started yet has
    # no ticket workflow to find. Erasure said "Erased", named no batch and exited 0; the batch
    # then started the ticket, the agents ran again and the answer went to the customer who
    # asked to be erased. The batch here runs on a queue no worker polls: it starts nothing.
    customer = f"P-{RUN}"
    mine = [make_ticket(customer_id=customer, subject="Invoice copy") for _ in range(2)]
    theirs = make_ticket(customer_id=OTHER_CUSTOMER, subject="Invoice copy")
    batch = await stack.client.start_workflow(
        names.BATCH_WORKFLOW,
        args=[[t.model_dump(mode="json") for t in (theirs, *mine)], BatchState()],
        id=f"batch-pending-{RUN}",
        task_queue=f"nobody-polls-{RUN}",
    )
    try:
        dry = await stack.cli("erase", "--customer-id", customer, "--json")
        erased = await stack.cli("erase", "--customer-id", customer, "--yes", "--json")
        shown = await stack.cli("erase", "--customer-id", customer)
    finally:
        await batch.terminate("test over")

    assert dry.code == 0, dry.output
    pending = {batch.id: [t.ticket_id for t in mine]}
    assert json.loads(dry.stdout)["batches_pending"] == pending
    assert erased.code != 0
    report = json.loads(erased.stdout)
    assert report["batches_pending"] == pending and batch.id in report["batches_kept"]
    [problem] = report["failed"]
    assert f"batch {batch.id} has yet to start 2 of this customer's ticket(s)" in problem
    assert theirs.ticket_id not in problem
    assert "still running" in shown.stdout and batch.id in shown.stdout
