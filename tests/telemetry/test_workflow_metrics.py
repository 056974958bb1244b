"""Workflow metrics count each ticket once, even when every workflow task replays the history
(workflow.metric_meter() records nothing during replay): a worker on its own Prometheus runtime,
in process, with the workflow cache off."""

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import telemetry
from shared.metrics import prometheus_runtime
from shared.view import TicketView
from tests.support.processes import free_port
from tests.support.prometheus import samples, scrape
from tests.support.temporal import CONVERTER
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import real_pipeline

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_every_task_replaying_still_counts_each_ticket_and_token_once(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{free_port()}"
    runtime = prometheus_runtime(address)
    client = await Client.connect(
        ts_env.client.service_client.config.target_host,
        namespace=ts_env.client.namespace,
        data_converter=CONVERTER,
        plugins=telemetry.client_plugins(),
        runtime=runtime,
    )
    async with real_pipeline(client, task_queue, tmp_path, max_cached_workflows=0):
        views: list[TicketView] = [
            await (await start_ticket(client, task_queue, make_ticket())).result() for _ in range(2)
        ]
    assert all(v.state is TicketState.COMPLETED for v in views)
    text = await asyncio.to_thread(scrape, f"http://{address}/metrics")
    mine = {"task_queue": task_queue}
    assert sum(samples(text, "tickets_finished_total", state="COMPLETED", **mine)) == 2
    input_tokens = sum(u.input_tokens for v in views for u in v.usage.values())
    output_tokens = sum(u.output_tokens for v in views for u in v.usage.values())
    assert sum(samples(text, "tickets_llm_tokens_total", type="input", **mine)) == input_tokens
    assert sum(samples(text, "tickets_llm_tokens_total", type="output", **mine)) == output_tokens
    calls = sum(u.calls for v in views for u in v.usage.values())
    assert sum(samples(text, "tickets_llm_cost_usd_count", **mine)) == calls
    # The activity side saw the same calls, once each.
    assert sum(samples(text, "tickets_agent_call_duration_seconds_count", outcome="ok")) == calls
