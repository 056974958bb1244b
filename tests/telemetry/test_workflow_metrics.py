"""Workflow metrics count each ticket once, even when every workflow task replays the history
(workflow.metric_meter() records nothing during replay): a worker on its own Prometheus runtime,
in process, with the workflow cache off."""

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names, telemetry
from shared.agents import Category
from shared.metrics import prometheus_runtime
from shared.pipeline_config import BudgetConfig, PipelineConfig, ReviewPolicyConfig
from shared.review import ReviewAction, ReviewDecision, ReviewReceipt
from shared.view import TicketView
from tests.support.processes import free_port
from tests.support.prometheus import samples, scrape
from tests.support.temporal import CONVERTER, status, wait_for_state, wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import real_pipeline

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_every_task_replaying_still_counts_each_ticket_and_token_once(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    client, address = await metered_client(ts_env)
    async with real_pipeline(client, task_queue, tmp_path, max_cached_workflows=0):
        views: list[TicketView] = [
            await (await start_ticket(client, task_queue, make_ticket())).result() for _ in range(2)
        ]
    assert all(v.state is TicketState.COMPLETED for v in views)
    text = await asyncio.to_thread(scrape, f"http://{address}/metrics")
    mine = {"task_queue": task_queue}
    assert sum(samples(text, "tickets_finished_total", state="COMPLETED", **mine)) == 2
    # Straight through, well within the SLA: each timed and costed once.
    assert samples(text, "tickets_finished_total", state="COMPLETED", sla="met", **mine) == [2.0]
    done = {"state": "COMPLETED", **mine}
    assert sum(samples(text, "tickets_resolution_seconds_count", **done)) == 2
    assert 0 < sum(samples(text, "tickets_resolution_seconds_sum", **done)) < 600
    assert sum(samples(text, "tickets_cost_per_ticket_usd_count", **mine)) == 2
    cost = sum(v.total_cost_usd for v in views)
    assert sum(samples(text, "tickets_cost_per_ticket_usd_sum", **mine)) == pytest.approx(cost)
    input_tokens = sum(u.input_tokens for v in views for u in v.usage.values())
    output_tokens = sum(u.output_tokens for v in views for u in v.usage.values())
    assert sum(samples(text, "tickets_llm_tokens_total", type="input", **mine)) == input_tokens
    assert sum(samples(text, "tickets_llm_tokens_total", type="output", **mine)) == output_tokens
    calls = sum(u.calls for v in views for u in v.usage.values())
    assert sum(samples(text, "tickets_llm_cost_usd_count", **mine)) == calls
    # The activity side saw the same calls, once each.
    assert sum(samples(text, "tickets_agent_call_duration_seconds_count", outcome="ok")) == calls


async def test_escalations_review_waits_budget_hand_offs_and_trimming_are_counted(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    client, address = await metered_client(ts_env)
    # Everything is reviewed; a ticket may spend 500 tokens (the first call spends about 300).
    config = PipelineConfig(
        review=ReviewPolicyConfig(sensitive_categories=list(Category)),
        budget=BudgetConfig(max_tokens=500),
    )
    long_body = "The export stops halfway through. " * 400  # far above the trimming budget
    async with real_pipeline(client, task_queue, tmp_path, config=config):
        handle = await start_ticket(client, task_queue, make_ticket(body=long_body))
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await ts_env.sleep(timedelta(hours=30))  # past the Medium SLA of 24 h
        escalated = await wait_until(
            lambda: status_if(handle, lambda v: v.escalated), what="the escalation"
        )
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE,
            ReviewDecision(action=ReviewAction.EDIT, reviewer="ana", edited_text="Fixed."),
            result_type=ReviewReceipt,
        )
        view: TicketView = await handle.result()

    assert waiting.priority is not None and escalated.escalated
    assert view.state is TicketState.COMPLETED
    text = await asyncio.to_thread(scrape, f"http://{address}/metrics")
    mine = {"task_queue": task_queue}
    assert samples(text, "tickets_budget_handoffs_total", **mine) == [1.0]
    assert samples(text, "tickets_sla_escalations_total", priority=str(waiting.priority)) == [1.0]
    (waited,) = samples(text, "tickets_review_wait_seconds_sum", action="edit", **mine)
    assert 30 * 3600 <= waited < 31 * 3600
    trimmed = sum(samples(text, "tickets_trimmed_input_tokens_total", **mine))
    assert trimmed == view.trimmed_tokens > 0
    # Answered 30 hours in, past its 24-hour SLA.
    assert samples(text, "tickets_finished_total", state="COMPLETED", sla="missed", **mine) == [1.0]
    (took,) = samples(text, "tickets_resolution_seconds_sum", state="COMPLETED", **mine)
    assert 30 * 3600 <= took < 31 * 3600


async def test_a_review_nobody_gives_counts_its_wait_when_the_ticket_closes_unanswered(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # Counted only when a reviewer decided: the longest waits, those that close the ticket
    # unanswered, were missing, and the review-wait panel read best when nobody staffed it.
    client, address = await metered_client(ts_env)
    config = PipelineConfig(
        review=ReviewPolicyConfig(sensitive_categories=list(Category), final_deadline_hours=80)
    )
    async with real_pipeline(client, task_queue, tmp_path, config=config):
        handle = await start_ticket(client, task_queue, make_ticket())
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await ts_env.sleep(timedelta(hours=81))
        view: TicketView = await handle.result()

    assert view.state is TicketState.UNANSWERED
    text = await asyncio.to_thread(scrape, f"http://{address}/metrics")
    mine = {"task_queue": task_queue}
    (waited,) = samples(text, "tickets_review_wait_seconds_sum", action="expired", **mine)
    assert 80 * 3600 <= waited < 81 * 3600
    assert samples(text, "tickets_finished_total", state="UNANSWERED", sla="missed", **mine) == [
        1.0
    ]


async def metered_client(env: WorkflowEnvironment) -> tuple[Client, str]:
    """A client of ``env``'s server on a runtime of its own that serves Prometheus metrics (a
    worker made with it records there), and the address it serves them on."""
    address = f"127.0.0.1:{free_port()}"
    client = await Client.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        data_converter=CONVERTER,
        plugins=telemetry.client_plugins(),
        runtime=prometheus_runtime(address),
    )
    return client, address


async def status_if(handle: Any, check: Any) -> TicketView | None:
    view = await status(handle)
    return view if check(view) else None
