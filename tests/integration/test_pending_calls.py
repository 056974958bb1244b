"""`status` says what a running ticket waits on: an agent call retrying after a 429 (it showed
only the state until a route finally failed), and a call queued where no worker polls (it
showed NEW with no hint). Real dev server, real workers, the real openai client and a fake LLM."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from shared import names
from shared.pending_calls import PendingCall, describe_call
from shared.temporal_client import connect, connection_settings
from shared.ticket_status import read_ticket
from starter.submit_command import _unpolled_waits
from tests.integration.conftest import Stack
from tests.support.fake_llm import FakeLLMServer, Reply, good_answers
from tests.support.llm_pipeline import llm_pipeline, llm_setup
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket, start_ticket

pytestmark = pytest.mark.integration


async def _calls(client: Client, ticket_id: str, attempt: int) -> list[PendingCall] | None:
    reading = await read_ticket(client, ticket_id)
    return list(reading.pending) if any(c.attempt >= attempt for c in reading.pending) else None


async def test_a_call_retrying_after_a_429_shows_its_attempt_failure_and_next_try(
    stack: Stack, tmp_path: Path
) -> None:
    client = await connect(connection_settings({"TEMPORAL_ADDRESS": stack.server.address}))
    queue = f"tickets-{uuid.uuid4().hex[:8]}"
    with FakeLLMServer() as fake:
        fake.responder = good_answers
        fake.push(Reply(status=429, error_type="rate_limit_error", headers={"retry-after": "30"}))
        setup = llm_setup(fake)
        async with llm_pipeline(client, queue, tmp_path, setup):
            ticket = make_ticket()
            handle = await start_ticket(client, queue, ticket)
            calls = await wait_until(
                lambda: _calls(client, ticket.ticket_id, 2), what="the second attempt"
            )
            await handle.terminate("test over")
    [call] = calls
    assert call.activity == names.CLASSIFY_TICKET
    assert call.task_queue == names.llm_task_queue(setup.names["openai"])
    assert (call.attempt, call.running, call.polled) == (2, False, True)
    assert call.last_failure is not None and call.last_failure.startswith("ProviderRateLimited: ")
    assert "429" in call.last_failure
    assert call.next_attempt is not None
    assert timedelta(seconds=20) < call.next_attempt - datetime.now(UTC) <= timedelta(seconds=31)
    text, trouble = describe_call(call)
    assert trouble and f"classify_ticket on {call.task_queue}: next attempt (2) at " in text
    assert "; attempt 1 failed: ProviderRateLimited: " in text


async def test_a_call_no_worker_polls_for_says_so(stack: Stack, tmp_path: Path) -> None:
    client = await connect(connection_settings({"TEMPORAL_ADDRESS": stack.server.address}))
    queue = f"tickets-{uuid.uuid4().hex[:8]}"
    with FakeLLMServer() as fake:
        fake.responder = good_answers
        setup = llm_setup(fake)
        # The workflows' worker only: the provider's queue is left to a worker that is not there.
        async with llm_pipeline(client, queue, tmp_path, setup, agent_queues=False):
            ticket = make_ticket()
            handle = await start_ticket(client, queue, ticket)
            calls = await wait_until(
                lambda: _calls(client, ticket.ticket_id, 1), what="the queued call"
            )
            # What `submit --wait` adds when it gives up ("still in progress" said nothing more).
            hints = await _unpolled_waits(client, [ticket.ticket_id, "NO-SUCH-TICKET"])
            await handle.terminate("test over")
    [call] = calls
    unpolled = names.llm_task_queue(setup.names["openai"])
    assert (call.activity, call.task_queue) == (names.CLASSIFY_TICKET, unpolled)
    assert (call.attempt, call.running, call.polled, call.last_failure) == (1, False, False, None)
    text, trouble = describe_call(call)
    assert trouble
    assert text.startswith(f"classify_ticket on {unpolled}: queued (attempt 1); no worker polls")
    assert f"`--queues {unpolled}`" in text
    assert hints == [
        f"{ticket.ticket_id} wait(s) on {unpolled}, which no worker polls: start one that does "
        f"(`python -m worker --queues {unpolled}`, or a worker whose configuration routes to it)"
    ]
    assert not fake.calls()
