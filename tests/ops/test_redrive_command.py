"""`python -m starter redrive`: after an outage, FAILED tickets start again from their input and
DELIVERY_FAILED tickets send the answer the ledger recorded, never a new draft."""

import asyncio
import copy
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
)

from activities.delivery import mark_sent as sent_writes
from activities.delivery.config import WEBHOOK
from policy.transitions import TicketState
from shared import names
from shared import operations as ops
from shared.stores.ledger import UNCERTAIN_PREFIX
from starter import redrive as redrive_module
from starter.delivery_history import local_activity_type
from tests.ops.conftest import (
    OpsServer,
    Outages,
    failed_after_classifying,
    failed_while_down,
    settled,
)
from tests.support.processes import CliResult, run_cli
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def redrive(ops_server: OpsServer, *args: str) -> tuple[CliResult, dict[str, Any]]:
    result = await asyncio.to_thread(
        run_cli, ops_server.env, "redrive", "--since", "1h", "--json", *args
    )
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    return result, report


def entry(report: dict[str, Any], ticket_id: str) -> dict[str, Any]:
    [found] = [t for t in report["tickets"] if t["ticket_id"] == ticket_id]
    return found


async def test_a_failed_ticket_starts_again_from_its_input_once_the_provider_is_back(
    ops_server: OpsServer, outages: Outages
) -> None:
    client = ops_server.client
    ticket = make_ticket(subject="Locked out after the outage")
    handle = await failed_while_down(client, outages, ticket)
    first_run = (await handle.describe()).run_id

    _, dry = await redrive(ops_server, "--state", "FAILED")
    planned = entry(dry, ticket.ticket_id)
    assert (dry["applied"], planned["action"], planned["new_run_id"]) == (False, "restart", None)
    assert (await handle.describe()).run_id == first_run  # a dry run changes nothing

    _, done = await redrive(ops_server, "--state", "FAILED", "--yes")
    new_run = entry(done, ticket.ticket_id)["new_run_id"]
    assert done["applied"] and new_run and new_run != first_run

    view = await wait_until(
        lambda: settled(client, ticket.ticket_id), timeout=60, what="the restarted ticket"
    )
    assert view.state is TicketState.COMPLETED
    assert view.subject == ticket.subject
    first = await client.get_workflow_handle(handle.id, run_id=first_run).describe()
    assert first.status is WorkflowExecutionStatus.FAILED

    _, again = await redrive(ops_server, "--state", "FAILED", "--yes")
    repeat = entry(again, ticket.ticket_id)
    assert repeat["action"] == "skip" and "redriven before" in repeat["why"]


async def test_what_a_failed_run_spent_stays_in_the_tickets_totals_after_its_restart(
    ops_server: OpsServer, outages: Outages
) -> None:
    # The restart is a new run that starts with nothing spent, and the listings read a ticket's
    # newest run: the failed run's classification dropped out of `report`.
    client = ops_server.client
    ticket = make_ticket(subject="Charged twice during the outage")
    failed = await failed_after_classifying(client, outages, ticket)
    assert failed.state == "FAILED" and failed.agents["classifier"].calls == 1
    assert failed.cost_usd > 0

    _, done = await redrive(ops_server, "--state", "FAILED", "--yes")
    restarted = entry(done, ticket.ticket_id)
    assert restarted["action"] == "restart" and "1 agent call(s)" in restarted["why"]
    await wait_until(lambda: settled(client, ticket.ticket_id), timeout=60, what="the restart")

    view = await ops.ticket_status(client, ticket.ticket_id)  # the new run's own calls
    own_calls = sum(u.calls for u in view.usage.values())
    assert view.state is TicketState.COMPLETED and own_calls >= 4
    total = await ops.describe_ticket(client, ticket.ticket_id)
    assert total.calls == failed.calls + own_calls
    assert total.cost_usd == pytest.approx(failed.cost_usd + view.total_cost_usd, abs=1e-6)
    assert total.tokens == failed.tokens + view.total_tokens
    assert total.agents["classifier"].calls == 2  # once in each run

    # `list` shows it once (its newest run), with both runs' spend: once the listing has the
    # new run at rest (it follows the run's own state a moment later).
    async def listed() -> list[dict[str, Any]] | None:
        result = await asyncio.to_thread(run_cli, ops_server.env, "list", "--json")
        assert result.code == 0, result.output
        found = [t for t in json.loads(result.stdout) if t["ticket_id"] == ticket.ticket_id]
        return found if [t["state"] for t in found] == ["COMPLETED"] else None

    listed_once = await wait_until(listed, what="the restarted ticket listed at rest")
    assert [(t["calls"], t["cost_usd"]) for t in listed_once] == [(total.calls, total.cost_usd)]


async def refused_until_delivery_failed(client: Client, outages: Outages, ticket: Any) -> None:
    """Start the ticket while the webhook refuses everything, until it ends DELIVERY_FAILED."""
    outages.webhook_refuses.set()
    try:
        await ops.start_ticket(client, ticket)

        async def delivery_failed() -> Any:
            view = await ops.ticket_status(client, ticket.ticket_id)
            return view if view.state is TicketState.DELIVERY_FAILED else None

        await wait_until(delivery_failed, timeout=60, what="DELIVERY_FAILED")
    finally:
        outages.webhook_refuses.clear()


async def test_a_refused_delivery_sends_the_recorded_answer_again_and_no_new_draft(
    ops_server: OpsServer, outages: Outages
) -> None:
    client = ops_server.client
    ticket = make_ticket(subject="Invoice address")
    await refused_until_delivery_failed(client, outages, ticket)
    handle = client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))
    first_run = (await handle.describe()).run_id
    recorded = await outages.ledger.get(ticket.ticket_id)
    assert recorded is not None and recorded.sent_at is None
    llm_calls = len(outages.fake.calls())

    _, dry = await redrive(ops_server, "--state", "DELIVERY_FAILED")
    planned = entry(dry, ticket.ticket_id)
    assert planned["action"] == "redeliver"
    assert f"revision {recorded.revision}" in planned["why"]
    assert recorded.idempotency_key in planned["why"]
    assert len(outages.receiver.by_ticket()[ticket.ticket_id]) == 1  # nothing sent by a dry run

    _, done = await redrive(ops_server, "--state", "DELIVERY_FAILED", "--yes")
    new_run = entry(done, ticket.ticket_id)["new_run_id"]
    assert new_run and new_run != first_run

    async def completed() -> Any:
        view = await ops.ticket_status(client, ticket.ticket_id)
        return view if view.state is TicketState.COMPLETED else None

    view = await wait_until(completed, timeout=60, what="the redelivered ticket")
    sent = outages.receiver.by_ticket()[ticket.ticket_id]
    assert len(sent) == 2
    assert sent[1].body == sent[0].body  # the recorded answer, byte for byte
    assert sent[1].headers["Idempotency-Key"] == recorded.idempotency_key
    assert view.delivery is not None and view.delivery.revision == recorded.revision
    assert view.draft is not None and view.draft.text == recorded.body
    assert len(outages.fake.calls()) == llm_calls  # no agent ran again: no new draft
    after = await outages.ledger.get(ticket.ticket_id)
    assert after is not None and after.sent_at is not None

    new_events = [
        e
        async for e in client.get_workflow_handle(handle.id, run_id=new_run).fetch_history_events()
    ]
    reset_at = next(
        i
        for i, e in enumerate(new_events)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    )
    # Only the delivery runs after the reset: as a local activity (the first attempt since the
    # lean-history patch) or a queued one, never an agent.
    ran_after = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        else local_activity_type(e)
        for e in new_events[reset_at:]
        if e.event_type
        in (EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, EventType.EVENT_TYPE_MARKER_RECORDED)
    ]
    assert [kind for kind in ran_after if kind] == [names.DELIVER_RESPONSE_NOW]


async def test_two_redrives_planned_at_once_reset_a_ticket_once(
    ops_server: OpsServer, outages: Outages
) -> None:
    # Both reset it: the second reset ended the first one's run (Terminated), whose delivery
    # could be mid-send, and both said "Redrove".
    client = ops_server.client
    ticket = make_ticket(subject="Refund for the double charge")
    await refused_until_delivery_failed(client, outages, ticket)
    handle = client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))
    first_run = (await handle.describe()).run_id
    mine = lambda report: [t for t in report.tickets if t.ticket_id == ticket.ticket_id]  # noqa: E731
    one = await redrive_module.plan(
        client, outages.ledger, TicketState.DELIVERY_FAILED, timedelta(hours=1), 100
    )
    other = copy.deepcopy(one)
    one.tickets, other.tickets = mine(one), mine(other)

    await redrive_module.apply(client, outages.ledger, one)
    await redrive_module.apply(client, outages.ledger, other)

    [first], [second] = one.tickets, other.tickets
    assert first.error is None and first.new_run_id not in (None, first_run)
    assert second.new_run_id is None and (second.error or "").startswith("redriven meanwhile")

    async def listed() -> list[str] | None:
        # Visibility is written after the reset: the new run may not be listed at once (a
        # fresh clone's suite listed only the first).
        runs = [e.run_id async for e in client.list_workflows(f"WorkflowId = '{handle.id}'")]
        return runs if len(runs) >= 2 else None

    runs = await wait_until(listed, what="the reset run in visibility")
    assert len(runs) == 2  # the failed run and one reset of it, none terminated by another


async def test_a_refused_delivery_whose_row_another_ticket_took_over_is_delivered_again(
    ops_server: OpsServer, outages: Outages
) -> None:
    # The answer was refused; then another ticket with the same id (another namespace on the
    # same database, say) took the unclaimed row over and was sent. That row is not this
    # ticket's answer: redrive must redeliver, not skip it as "marked sent".
    from shared.delivery import idempotency_key, text_sha256
    from shared.stores.ledger import NewDelivery

    client = ops_server.client
    ticket = make_ticket(subject="Address change")
    await refused_until_delivery_failed(client, outages, ticket)
    own = await outages.ledger.get(ticket.ticket_id)
    assert own is not None and own.chain is not None
    other_text = "Another ticket's answer."
    digest = text_sha256(other_text)
    _, taken = await outages.ledger.record(
        NewDelivery(
            ticket_id=ticket.ticket_id,
            channel="chat",
            customer_id="C-other",
            revision=1,
            body=other_text,
            text_sha256=digest,
            idempotency_key=idempotency_key(ticket.ticket_id, digest, "another-chain"),
            sent_via=WEBHOOK,
            chain="another-chain",
        )
    )
    assert taken is True
    await outages.ledger.mark_sent(ticket.ticket_id)

    _, dry = await redrive(ops_server, "--state", "DELIVERY_FAILED")
    planned = entry(dry, ticket.ticket_id)
    assert planned["action"] == "redeliver" and "another ticket's" in planned["why"]

    await redrive(ops_server, "--state", "DELIVERY_FAILED", "--yes")

    async def completed() -> Any:
        view = await ops.ticket_status(client, ticket.ticket_id)
        return view if view.state is TicketState.COMPLETED else None

    view = await wait_until(completed, timeout=60, what="the redelivered ticket")
    after = await outages.ledger.get(ticket.ticket_id)
    assert after is not None and (after.chain, after.body) == (own.chain, own.body)
    assert after.sent_at is not None
    assert view.draft is not None and view.delivery is not None
    assert view.delivery.text_sha256 == text_sha256(view.draft.text)


async def test_a_ticket_cancelled_with_its_answer_out_but_unrecorded_is_recorded_not_resent(
    ops_server: OpsServer, outages: Outages, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger cannot record the first attempt's send; the queued attempt that only records
    it waits between retries when the ticket is cancelled: DELIVERY_FAILED (the cancel-waits-
    for-send version), and once the database is back a redrive records the answer, sends
    nothing and completes the ticket."""
    client = ops_server.client
    ticket = make_ticket(subject="Cancelled while the ledger was down")
    mark_sent = outages.ledger.mark_sent
    ledger_down = threading.Event()
    ledger_down.set()

    async def mark_sent_fake(ticket_id: str, key: str | None = None) -> Any:
        if ledger_down.is_set() and ticket_id == ticket.ticket_id:
            raise OSError("could not connect to the database")
        return await mark_sent(ticket_id, key)

    monkeypatch.setattr(outages.ledger, "mark_sent", mark_sent_fake)
    quick = (0.01,) * len(sent_writes.MARK_SENT_PAUSES)
    monkeypatch.setattr(sent_writes, "MARK_SENT_PAUSES", quick)
    await ops.start_ticket(client, ticket)
    handle = client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))

    async def in_state(state: TicketState) -> Any:
        view = await ops.ticket_status(client, ticket.ticket_id)
        return view if view.state is state else None

    await wait_until(lambda: in_state(TicketState.DELIVERING), timeout=60, what="DELIVERING")
    await handle.cancel()
    failed = await wait_until(
        lambda: in_state(TicketState.DELIVERY_FAILED), timeout=60, what="DELIVERY_FAILED"
    )
    assert failed.failure is not None and "cancelled" in failed.failure
    ledger_down.clear()

    _, done = await redrive(ops_server, "--state", "DELIVERY_FAILED", "--yes")
    assert entry(done, ticket.ticket_id)["new_run_id"]
    view = await wait_until(
        lambda: in_state(TicketState.COMPLETED), timeout=60, what="the recorded ticket"
    )

    assert len(outages.receiver.by_ticket()[ticket.ticket_id]) == 1  # sent once, never again
    row = await outages.ledger.get(ticket.ticket_id)
    assert row is not None and row.sent_at is not None
    assert view.delivery is not None and view.delivery.idempotency_key == row.idempotency_key


async def test_an_answer_that_may_have_been_delivered_is_resent_or_recorded_once_checked(
    ops_server: OpsServer, outages: Outages
) -> None:
    """Its failure said "`redrive` sends the same message if it did not arrive" while redrive
    left it alone for good: a dead end once a person had checked the destination. (The row is
    marked as an SMTP relay silent after DATA marks it: tests/delivery/test_email.py.)"""
    client = ops_server.client
    lost, found = make_ticket(subject="Lost reply"), make_ticket(subject="Found reply")
    for ticket in (lost, found):
        await refused_until_delivery_failed(client, outages, ticket)
        await outages.ledger.note_failure(
            ticket.ticket_id, UNCERTAIN_PREFIX + "the relay did not say whether it took it"
        )
    before = {t.ticket_id: len(outages.receiver.by_ticket()[t.ticket_id]) for t in (lost, found)}

    _, dry = await redrive(ops_server, "--state", "DELIVERY_FAILED")
    assert entry(dry, lost.ticket_id)["action"] == "skip"
    assert (
        f"--arrived {lost.ticket_id} (recorded sent) or --not-arrived {lost.ticket_id}"
        in (entry(dry, lost.ticket_id)["why"])
    )

    _, done = await redrive(
        ops_server,
        *("--state", "DELIVERY_FAILED", "--yes"),
        *("--not-arrived", lost.ticket_id, "--arrived", found.ticket_id),
    )
    assert entry(done, lost.ticket_id)["action"] == "resend"
    assert entry(done, found.ticket_id)["action"] == "record-sent"

    async def completed(ticket_id: str) -> Any:
        view = await ops.ticket_status(client, ticket_id)
        return view if view.state is TicketState.COMPLETED else None

    for ticket in (lost, found):
        await wait_until(lambda t=ticket: completed(t.ticket_id), timeout=60, what="COMPLETED")
    sent = outages.receiver.by_ticket()
    recorded = await outages.ledger.get(lost.ticket_id)
    assert recorded is not None and recorded.sent_at is not None
    # The one not found went out once more, with its key; the one found, not again.
    assert len(sent[lost.ticket_id]) == before[lost.ticket_id] + 1
    assert sent[lost.ticket_id][-1].headers["Idempotency-Key"] == recorded.idempotency_key
    assert len(sent[found.ticket_id]) == before[found.ticket_id]

    # The same command again (after Ctrl-C, or the exit 3 that says to run it again): both
    # redriven before, nothing sent again, not refused for its flags.
    _, again = await redrive(
        ops_server,
        *("--state", "DELIVERY_FAILED", "--yes"),
        *("--not-arrived", lost.ticket_id, "--arrived", found.ticket_id),
    )
    for ticket in (lost, found):
        assert entry(again, ticket.ticket_id)["why"].startswith("redriven before")
    resent = outages.receiver.by_ticket()
    assert [len(resent[t.ticket_id]) for t in (lost, found)] == [
        len(sent[t.ticket_id]) for t in (lost, found)
    ]

    mistaken = await asyncio.to_thread(
        run_cli, ops_server.env, "redrive", "--state", "DELIVERY_FAILED", "--since", "1h",
        "--arrived", "NO-SUCH-1",
    )  # fmt: skip
    assert mistaken.code == 1
    assert "NO-SUCH-1: not a DELIVERY_FAILED ticket of the window whose answer may" in (
        mistaken.stderr
    )


def test_a_redrive_where_the_workers_ledger_is_not_refuses_and_makes_none(
    ops_server: OpsServer, tmp_path: Path
) -> None:
    # A review (2026-12-07): run from a host without the workers' ledger (no database URL, a
    # data directory without outbox.sqlite3), the command made an empty ledger and planned
    # every FAILED ticket whose answer did go out for a restart, its agents paid again.
    elsewhere = ops_server.env | {"TICKETS_DATA_DIR": str(tmp_path)}
    elsewhere.pop("TICKETS_DATABASE_URL", None)

    result = run_cli(elsewhere, "redrive", "--state", "FAILED", "--since", "1h")

    assert result.code != 0
    assert f"no delivery ledger at {tmp_path}" in result.stderr
    assert not list(tmp_path.glob("outbox*"))
