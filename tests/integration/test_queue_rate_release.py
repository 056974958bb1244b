"""A provider that gets requests_per_minute after its queue's rate controller set a rate: the
worker removes that rate when it starts (an API rate overrides every worker's, so the configured
limit would otherwise never apply), and leaves alone a rate an operator set. On the dev server."""

import uuid

from temporalio.api.taskqueue.v1 import RateLimit
from temporalio.api.workflowservice.v1 import UpdateTaskQueueConfigRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.queue_rate import ACTIVITY_QUEUE, api_rate, set_api_rate
from shared import names
from shared.provider_config import WorkerSettings, default_providers
from task_queue_workers import release_controller_rates


async def operator_sets(client: Client, queue: str, rate: float) -> None:
    """What `temporal task-queue config set` does: the same API, another identity."""
    update = UpdateTaskQueueConfigRequest.RateLimitUpdate(reason="operator")
    update.rate_limit.CopyFrom(RateLimit(requests_per_second=rate))
    await client.workflow_service.update_task_queue_config(
        UpdateTaskQueueConfigRequest(
            namespace=client.namespace,
            identity="operator@example",
            task_queue=queue,
            task_queue_type=ACTIVITY_QUEUE,
            update_queue_rate_limit=update,
        )
    )


async def test_a_configured_provider_loses_its_controller_rate_and_keeps_an_operators(
    dev_env: WorkflowEnvironment,
) -> None:
    client = dev_env.client
    tag = uuid.uuid4().hex[:6]
    configured, operated, adaptive, off = (
        f"{kind}{tag}" for kind in ("conf", "oper", "adap", "off")
    )
    openai = default_providers()["openai"]
    settings = WorkerSettings(
        providers={
            configured: openai.model_copy(update={"requests_per_minute": 120}),
            operated: openai.model_copy(update={"requests_per_minute": 120}),
            adaptive: openai.model_copy(update={"adaptive_limit": True}),
            # Neither the adaptive nor the declared limit: no controller sets its rate any more.
            off: openai.model_copy(update={"declared_limit": False}),
        }
    )
    queues = [names.llm_task_queue(p) for p in (configured, operated, adaptive, off)]
    await set_api_rate(client, queues[0], 3.0, "adaptive limit (AIMD on the provider's 429s)")
    await operator_sets(client, queues[1], 5.0)
    await set_api_rate(client, queues[2], 7.0, "adaptive limit (AIMD on the provider's 429s)")
    await set_api_rate(client, queues[3], 9.0, "the limit the provider declares")

    released = await release_controller_rates(client, [names.TICKETS_TASK_QUEUE, *queues], settings)

    assert await api_rate(client, queues[0]) is None  # the configured 2/s applies again
    assert await api_rate(client, queues[1]) == 5.0  # an operator's decision stays
    assert await api_rate(client, queues[2]) == 7.0  # still adaptive: its controller's rate
    assert await api_rate(client, queues[3]) is None  # no limit, as configured
    assert len(released) == 2
    assert (
        queues[0] in released[0] and "3/s" in released[0] and "requests_per_minute" in released[0]
    )
    assert queues[3] in released[1] and "no controller" in released[1]
    # Once removed there is nothing left to remove.
    assert await release_controller_rates(client, queues, settings) == []
