"""The adaptive limit and the circuit breaker against the fake provider over HTTP, on the real dev
server: the provider queue's rate controller sets the queue's rate through the server's
task-queue configuration API, and the test reads it back from the server."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.queue_rate import api_rate
from activities.retry_budget import OTHER_FAILURE_ATTEMPTS
from policy.adaptive_rate import ControllerState
from policy.transitions import TicketState
from shared import names
from shared.pipeline_config import AgentTimeouts
from shared.view import TicketView
from tests.support.fake_llm import FakeLLMServer, Recorded, Reply, good_answers
from tests.support.llm_pipeline import llm_pipeline, llm_setup
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket, start_ticket

pytestmark = pytest.mark.usefixtures("replay_check")

# The provider's undeclared limit and the controller's starting rate, far above it: the first
# calls meet 429s and the controller has to come down.
PROVIDER_LIMIT = 2.0
START_RATE = 20.0
TICKETS = 4


async def start_together(
    env: WorkflowEnvironment, task_queue: str, prefix: str, count: int
) -> list[WorkflowHandle[Any, Any]]:
    """``count`` tickets started at once, so their first calls meet the provider in one burst."""
    return await asyncio.gather(
        *(
            start_ticket(env.client, task_queue, make_ticket(ticket_id=f"{prefix}{i}-{task_queue}"))
            for i in range(count)
        )
    )


async def controller_state(env: WorkflowEnvironment, provider_queue: str) -> ControllerState:
    handle = env.client.get_workflow_handle(names.rate_controller_id(provider_queue))
    return await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)


async def test_a_provider_answering_429_above_its_limit_gets_its_queue_rate_lowered(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    with FakeLLMServer() as fake:
        fake.responder = good_answers
        fake.limit(PROVIDER_LIMIT)
        setup = llm_setup(
            fake,
            provider_overrides={"adaptive_limit": True, "adaptive_start_rate": START_RATE},
        )
        provider_queue = names.llm_task_queue(setup.names["openai"])
        async with llm_pipeline(dev_env.client, task_queue, tmp_path, setup):

            async def started() -> bool:
                return await api_rate(dev_env.client, provider_queue) == START_RATE

            # The worker sets the starting rate on the server before its first poll.
            await wait_until(started, what="the starting rate on the provider queue")
            # Started together, so their first calls meet the provider in one burst.
            handles = await start_together(dev_env, task_queue, "R", TICKETS)
            results: list[TicketView] = await asyncio.gather(*(h.result() for h in handles))

            async def settled() -> tuple[ControllerState, float | None] | None:
                # The controller decides, then its activity sets the rate: read both once the
                # server has the rate the controller last decided.
                state = await controller_state(dev_env, provider_queue)
                rate = await api_rate(dev_env.client, provider_queue)
                if rate is not None and abs(rate - state.queue_rate()) < 0.01:
                    return state, rate
                return None

            state, rate = await wait_until(settled, what="the controller's rate on the server")

    assert fake.rate_limited > 0, "the provider never pushed back: the test proves nothing"
    assert all(r.state is TicketState.COMPLETED for r in results)
    assert state.decreases >= 1
    assert rate is not None and rate < START_RATE


async def test_a_provider_declaring_its_limit_gets_its_share_on_the_queue_without_a_429(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # 480 a minute in every answer's headers: high enough that 40 calls take seconds, not
    # tens of them, at the share (4/s took twice as long and proved the same).
    declared = 8.0
    headroom = 0.8  # the provider's rate_limit_headroom: the queue is allowed 6.4/s
    tickets = 10  # 40 calls answered at once: demand far above 8/s
    with FakeLLMServer() as fake:
        fake.responder = good_answers
        fake.limit(declared, headers=True)
        setup = llm_setup(
            fake,
            provider_overrides={
                "adaptive_limit": True,
                "adaptive_start_rate": 1.0,
                "rate_limit_headroom": headroom,
            },
        )
        provider_queue = names.llm_task_queue(setup.names["openai"])
        async with llm_pipeline(dev_env.client, task_queue, tmp_path, setup):
            handles = await start_together(dev_env, task_queue, "D", tickets)
            results: list[TicketView] = await asyncio.gather(*(h.result() for h in handles))

            async def at_the_share() -> ControllerState | None:
                state = await controller_state(dev_env, provider_queue)
                rate = await api_rate(dev_env.client, provider_queue)
                wanted = headroom * declared
                return state if rate is not None and abs(rate - wanted) < 0.01 else None

            state = await wait_until(at_the_share, what="the declared limit's share on the queue")

    assert all(r.state is TicketState.COMPLETED for r in results)
    assert state.allowed == pytest.approx(headroom * declared)
    # Straight there from 1/s: no slow start past the limit, no 429 to find it with, no cut
    # (the same run with the headers off drew 6 429s and 2 cuts).
    assert state.phase == "steady" and state.decreases == 0
    assert fake.rate_limited == 0


@pytest.mark.parametrize("declares", [True, False], ids=["declares", "declares-nothing"])
async def test_with_nothing_configured_the_queue_takes_the_limit_the_provider_declares(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, declares: bool
) -> None:
    """The default: no requests_per_minute, no adaptive limit. The queue has no rate until the
    provider declares its limit, then rate_limit_headroom (0.9) of it; one that declares
    nothing keeps no rate at all, as before."""
    declared = 4.0
    with FakeLLMServer() as fake:
        fake.responder = good_answers
        fake.limit(declared, headers=declares)
        setup = llm_setup(fake)
        provider_queue = names.llm_task_queue(setup.names["openai"])
        async with llm_pipeline(dev_env.client, task_queue, tmp_path, setup):

            async def controller_started() -> ControllerState | None:
                try:
                    return await controller_state(dev_env, provider_queue)
                except RPCError:
                    return None

            # The worker started the queue's controller before its first poll, and set nothing.
            await wait_until(controller_started, what="the provider queue's controller")
            assert await api_rate(dev_env.client, provider_queue) is None
            handles = await start_together(dev_env, task_queue, "N", TICKETS)
            results: list[TicketView] = await asyncio.gather(*(h.result() for h in handles))

            async def at_the_share() -> ControllerState | None:
                state = await controller_state(dev_env, provider_queue)
                rate = await api_rate(dev_env.client, provider_queue)
                return state if rate is not None and abs(rate - 0.9 * declared) < 0.01 else None

            if declares:
                state = await wait_until(at_the_share, what="the declared limit on the queue")
                assert state.allowed == pytest.approx(0.9 * declared)
    if not declares:
        # The workers have stopped, after a last flush of their reports: the controller heard
        # the mode once (a controller the adaptive mode left would remove its rate now), then
        # nothing, and set nothing.
        assert await api_rate(dev_env.client, provider_queue) is None
        controller = dev_env.client.get_workflow_handle(names.rate_controller_id(provider_queue))
        events = [e async for e in controller.fetch_history_events()]
        signals = [e for e in events if e.HasField("workflow_execution_signaled_event_attributes")]
        scheduled = [e for e in events if e.HasField("activity_task_scheduled_event_attributes")]
        assert len(signals) == 1 and scheduled == []
    assert all(r.state is TicketState.COMPLETED for r in results)


def failing_openai(request: Recorded) -> Reply:
    """The openai provider is down (500 on every call); anthropic answers."""
    if request.api == "openai":
        return Reply(status=500, error_type="server_error", error_message="upstream down")
    return good_answers(request)


async def test_a_provider_failing_most_calls_opens_the_breaker_and_tickets_take_the_fallback(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    tickets = 6
    with FakeLLMServer() as fake:
        fake.responder = failing_openai
        setup = llm_setup(
            fake,
            chain=("openai", "anthropic"),
            provider_overrides={
                "adaptive_limit": True,
                "adaptive_start_rate": 20.0,
                "breaker_cool_down_seconds": 300.0,  # stays open for the whole test
            },
            # Calls waiting on the paused queue go to the fallback after 1 s (each of a ticket's
            # four agents waits it out; only the calls on openai's queue, which starts them at
            # once until the breaker pauses it, have a fallback and so this timeout).
            agent_timeouts=AgentTimeouts(queue_wait_seconds=1.0),
        )
        openai_queue = names.llm_task_queue(setup.names["openai"])
        async with llm_pipeline(dev_env.client, task_queue, tmp_path, setup):
            handles = await start_together(dev_env, task_queue, "B", tickets)

            async def opened() -> bool:
                return await api_rate(dev_env.client, openai_queue) == 0.0

            await wait_until(opened, timeout=30, what="the breaker to pause the openai queue")
            results: list[TicketView] = await asyncio.gather(*(h.result() for h in handles))
            state = await controller_state(dev_env, openai_queue)
            rate = await api_rate(dev_env.client, openai_queue)

    assert state.phase == "open" and state.openings == 1
    assert rate == 0.0
    assert all(r.state is TicketState.COMPLETED for r in results)
    # Every agent of every ticket answered through the fallback route.
    anthropic_model = setup.route("anthropic").model
    assert all(u.models == [anthropic_model] for r in results for u in r.usage.values())
    assert all(len(r.fallbacks) == 4 for r in results)
    # Without the breaker each of the four calls of each ticket would spend its attempts for
    # failures other than rate limits on the broken provider first.
    openai_calls = [c for c in fake.calls() if c.api == "openai"]
    assert len(openai_calls) < tickets * OTHER_FAILURE_ATTEMPTS
    # The later agents waited on the paused queue and went on: a schedule-to-start timeout.
    assert any("schedule_to_start" in f.error for r in results for f in r.fallbacks)
