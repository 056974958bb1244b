"""A ticket that ended without an answer (failed, terminated, timed out) and is started again by
hand (`submit`, the API) under its id: only its own content reopens the id, and the new run
carries what the ended runs recorded they spent, as a redrive's restart does."""

import asyncio
import json
from typing import Any

import httpx
import pytest

from policy.transitions import TicketState
from shared import operations as ops
from shared import ticket_listing
from shared.ticket_status import read_ticket
from tests.api.helpers import console_sign_in
from tests.ops.conftest import (
    OpsServer,
    Outages,
    failed_after_classifying,
    failed_while_down,
    failed_with_an_answer_recorded,
    settled,
)
from tests.support.api_server import Tokens, bearer, serving
from tests.support.processes import run_cli
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def test_a_failed_tickets_id_is_refused_to_another_tickets_content_and_reopened_to_its_own(
    ops_server: OpsServer, outages: Outages
) -> None:
    # A failed ticket could be started again under its id with anything: another ticket's
    # content took its place, and the failed one vanished from the listings behind it.
    client = ops_server.client
    ticket = make_ticket(subject="Payment bounced twice")
    handle = await failed_while_down(client, outages, ticket)
    failed_run = (await handle.describe()).run_id
    stranger = ticket.model_copy(
        update={"subject": "Another customer entirely", "body": "Other words altogether."}
    )

    refused = await ops.start_ticket(client, stranger)

    assert (refused.started, refused.conflict, refused.state) == (False, True, "FAILED")
    assert (await handle.describe()).run_id == failed_run  # still the failed ticket

    # A batch asks the same before it starts its tickets (from the visibility store, which
    # indexes the failed run's end a moment after it).
    async def held_from_the_stranger() -> bool:
        held = await ticket_listing.ids_held_by_other_tickets(client, [stranger])
        return held == {ticket.ticket_id}

    await wait_until(held_from_the_stranger, timeout=15, what="the id held from the stranger")
    assert await ticket_listing.ids_held_by_other_tickets(client, [ticket]) == set()

    again = await ops.start_ticket(client, ticket)  # the same ticket, once the cause is fixed

    assert again.started and not again.conflict
    view = await wait_until(
        lambda: settled(client, ticket.ticket_id), timeout=60, what="the ticket started again"
    )
    assert view.state is TicketState.COMPLETED and view.subject == ticket.subject


async def test_the_same_words_from_another_address_under_a_taken_id_are_another_ticket(
    ops_server: OpsServer, outages: Outages
) -> None:
    # Two helpdesks' ticket 1001, the same words, no customer id, two addresses: the digest left
    # the address out, so the second was the first ticket again, reported a duplicate (running
    # or answered: never answered itself) or started over the failed first (a review,
    # 2026-12-07).
    client = ops_server.client
    alice = make_ticket(customer_email="alice@a.example")
    handle = await failed_while_down(client, outages, alice)
    failed_run = (await handle.describe()).run_id
    bob = alice.model_copy(update={"customer_email": "bob@b.example"})

    refused = await ops.start_ticket(client, bob)

    assert (refused.started, refused.conflict, refused.state) == (False, True, "FAILED")
    assert (await handle.describe()).run_id == failed_run
    # Alice's own ticket, her address written otherwise, is hers.
    same = alice.model_copy(update={"customer_email": " Alice@A.example"})
    assert not (await ops.start_ticket(client, same)).conflict


async def test_under_an_idempotency_key_a_failed_ticket_starts_again_whatever_its_words(
    ops_server: OpsServer, outages: Outages
) -> None:
    # The API derives the id from an Idempotency-Key: a retry under the key is the same ticket,
    # its words edited or not, and a failed one starts again as it did before ids were checked.
    client = ops_server.client
    ticket = make_ticket(subject="Order never arrived")
    await failed_while_down(client, outages, ticket, keyed=True)
    edited = ticket.model_copy(update={"body": "Order 1142 never arrived, it is now a week."})

    [retried] = await ops.submit_tickets(client, [edited], keyed=True)

    assert retried.started
    view = await wait_until(
        lambda: settled(client, ticket.ticket_id), timeout=60, what="the keyed retry"
    )
    assert view.state is TicketState.COMPLETED


async def test_a_failed_ticket_submitted_again_keeps_what_it_spent_and_shows_it(
    ops_server: OpsServer, outages: Outages
) -> None:
    # Only a redrive carried the failed run's spend: a ticket a person submitted again once the
    # cause was fixed started from nothing, and its classification dropped out of `report`.
    client = ops_server.client
    ticket = make_ticket(subject="Refund stuck since the outage")
    failed = await failed_after_classifying(client, outages, ticket)
    assert failed.state == "FAILED" and failed.calls == 1 and failed.cost_usd > 0

    [again] = await ops.submit_tickets(client, [ticket])  # what `submit` does

    assert again.started
    await wait_until(lambda: settled(client, ticket.ticket_id), timeout=60, what="the resubmit")
    reading = await read_ticket(client, ticket.ticket_id)
    own_calls = sum(u.calls for u in reading.view.usage.values())
    assert reading.view.state is TicketState.COMPLETED and own_calls >= 4
    earlier = reading.earlier_runs
    assert earlier is not None
    assert (earlier.runs, earlier.calls) == (1, failed.calls)
    assert earlier.cost_usd == pytest.approx(failed.cost_usd, abs=1e-6)
    total = await ops.describe_ticket(client, ticket.ticket_id)
    assert total.calls == failed.calls + own_calls
    assert total.agents["classifier"].calls == 2  # once in each run

    # `status` shows the earlier run beside this run's usage, in JSON and as text.
    shown = await asyncio.to_thread(run_cli, ops_server.env, "status", ticket.ticket_id, "--json")
    assert shown.code == 0, shown.output
    assert json.loads(shown.stdout)["earlier_runs"]["calls"] == failed.calls
    text = await asyncio.to_thread(run_cli, ops_server.env, "status", ticket.ticket_id)
    assert "1 run(s) before this one made 1 agent call(s)" in " ".join(text.stdout.split())

    # So do the API's ticket and the review console's page.
    tokens = Tokens.fresh()
    async with (
        serving(client, tokens.registry(), secure_cookies=False) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        detail: Any = (
            await http.get(f"/tickets/{ticket.ticket_id}", headers=bearer(tokens.read))
        ).json()
        assert detail["earlier_runs"]["calls"] == failed.calls, detail
        assert detail["earlier_runs"]["cost_usd"] == pytest.approx(failed.cost_usd, abs=1e-6)
        await console_sign_in(http, tokens.review)
        page = await http.get(f"/console/tickets/{ticket.ticket_id}")
        assert page.status_code == 200 and 'id="earlier-runs"' in page.text

    # A ticket's first run has none.
    first = make_ticket(subject="A first run")
    await ops.start_ticket(client, first)
    await wait_until(lambda: settled(client, first.ticket_id), timeout=60, what="a first run")
    assert (await read_ticket(client, first.ticket_id)).earlier_runs is None


async def started_again(client: Any, ticket: Any) -> Any:
    """``ticket`` submitted again (its run ended without completing): the new run, settled."""
    [again] = await ops.submit_tickets(client, [ticket])
    assert again.started
    return await wait_until(
        lambda: settled(client, ticket.ticket_id), timeout=60, what="the ticket started again"
    )


async def test_a_ticket_started_again_after_its_run_sent_the_answer_does_not_send_a_second(
    ops_server: OpsServer, outages: Outages
) -> None:
    # A run can send its answer and still end without completing: cancelled just after the
    # send, terminated while delivering (docs/lifecycle.md). Submitted again, the ticket's new
    # run replaced that run's sent row in the ledger and sent a second answer under a new key.
    # Here the first run fails before its delivery, and its sent answer is then written to the
    # ledger under its chain, as a run that sent it would have left it.
    client = ops_server.client
    ticket = make_ticket(subject="Refund sent twice?")
    sent = "We refunded your order."
    recorded = await failed_with_an_answer_recorded(client, outages, ticket, sent)
    chain, key = recorded.chain, recorded.idempotency_key
    await outages.ledger.mark_sent(ticket.ticket_id)

    view = await started_again(client, ticket)
    # Completed with the earlier run's receipt, saying the customer has that answer.
    assert view.state is TicketState.COMPLETED
    assert view.delivery is not None and view.delivery.already_delivered
    assert view.delivery.idempotency_key == key
    assert "NOT delivered: the ledger already held revision 1" in view.transitions[-1].reason
    assert ticket.ticket_id not in outages.receiver.by_ticket()  # nothing sent again
    row = await outages.ledger.get(ticket.ticket_id)
    assert row is not None and (row.chain, row.body) == (chain, sent)  # the answer that went out


async def test_a_ticket_started_again_after_its_runs_send_timed_out_sends_that_answer_again(
    ops_server: OpsServer, outages: Outages
) -> None:
    # A run whose webhook send timed out (the receiver may have taken it) and that then ended
    # without completing (cancelled while waiting to retry, terminated). Submitted again, the
    # ticket's new run replaced that row and sent its own answer under a new key beside it:
    # the receiver could not tell the two apart. It now sends that run's answer again under
    # that run's key, as that run's next attempt would have. The row is written here as such a
    # run leaves it (the first run fails before its delivery).
    client = ops_server.client
    ticket = make_ticket(subject="Refund timed out?")
    sent = "We refunded your order."
    recorded = await failed_with_an_answer_recorded(client, outages, ticket, sent)
    chain, key = recorded.chain, recorded.idempotency_key
    assert await outages.ledger.claim(ticket.ticket_id, "the first run's attempt", 60, key)
    await outages.ledger.note_failure(ticket.ticket_id, "the webhook did not answer in 10 s", key)
    await outages.ledger.release(ticket.ticket_id, "the first run's attempt")

    view = await started_again(client, ticket)
    assert view.state is TicketState.COMPLETED
    assert view.delivery is not None and view.delivery.idempotency_key == key
    [received] = outages.receiver.by_ticket()[ticket.ticket_id]
    assert received.document["text"] == sent  # that run's answer, not this run's draft
    assert received.headers["Idempotency-Key"] == key
    row = await outages.ledger.get(ticket.ticket_id)
    assert row is not None and row.sent_at is not None and (row.chain, row.body) == (chain, sent)
