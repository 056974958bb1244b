"""The workflow-task schedule-to-start histogram has a bucket at the 2 s threshold of the
`WorkflowTaskScheduleToStartHigh` alert: with the SDK's default buckets (0.1, 0.5, 1, 5, 10 s …)
histogram_quantile interpolates a p99 above 2 s inside 1-5 s from tasks that all started within
a little over 1 s, and the alert fires falsely. A worker on the project's Prometheus runtime runs
one tiny workflow on the real dev server, and its /metrics must show the bucket."""

import re
import uuid

import httpx
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared.metrics import prometheus_runtime
from tests.support.processes import free_port

# What the SDK core serves, in seconds and with the unit suffix (rules.yml queries this name).
BUCKET_SERIES = "temporal_workflow_task_schedule_to_start_latency_seconds_bucket"


@workflow.defn(name="ScheduleToStartProbe", sandboxed=False)
class ScheduleToStartProbe:
    """One workflow task, so the histogram gets one sample."""

    @workflow.run
    async def run(self) -> str:
        return "done"


def bucket_bounds(text: str, name: str, task_queue: str) -> list[str]:
    """The ``le`` of every bucket of ``name`` on ``task_queue`` in Prometheus text."""
    pattern = re.compile(rf"^{name}{{(?P<labels>[^}}]*)}} ")
    bounds = []
    for line in text.splitlines():
        found = pattern.match(line)
        if found and f'task_queue="{task_queue}"' in found["labels"]:
            le = re.search(r'le="([^"]+)"', found["labels"])
            assert le is not None, line
            bounds.append(le.group(1))
    return bounds


async def test_workflow_task_schedule_to_start_has_a_bucket_at_the_alert_threshold(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    address = f"127.0.0.1:{free_port()}"
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        runtime=prometheus_runtime(address),
    )
    async with Worker(client, task_queue=task_queue, workflows=[ScheduleToStartProbe]):
        result = await client.execute_workflow(
            ScheduleToStartProbe.run, id=f"probe-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result == "done"

    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://{address}/metrics", timeout=5)
    response.raise_for_status()
    bounds = bucket_bounds(response.text, BUCKET_SERIES, task_queue)
    assert bounds, f"no {BUCKET_SERIES} for {task_queue}"
    # Bounds either side of the threshold, so the p99 near it is not a guess across 1-5 s.
    assert {"1", "2", "5"} <= set(bounds), bounds
    assert float(bounds[-2] if bounds[-1] == "+Inf" else bounds[-1]) >= 60, bounds
