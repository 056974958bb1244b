"""One agent call's attempts on the real dev server, against the fake LLM server through the real
openai SDK: 429s never spend the budget of other failures, and attempts that end without raising
(a stream that stalls until the heartbeat timeout) do spend it, so a hanging provider is given up
after five attempts instead of being retried until the call's time bound. The count travels from
attempt to attempt in the heartbeat details the server keeps."""

import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.agent_activities import AgentActivities
from activities.retry_budget import EXHAUSTED_TYPE, OTHER_FAILURE_ATTEMPTS
from shared.agents import AgentRoute
from tests.providers.conftest import MODELS, MakeProvider
from tests.providers.helpers import VALID_CLASSIFICATION, classify_request
from tests.support.agent_call_workflow import OneAgentCallWorkflow
from tests.support.fake_llm import FakeLLMServer, Reply

pytestmark = pytest.mark.timeout(90)

ROUTE = AgentRoute(provider="openai", model=MODELS["openai"])


def rate_limited() -> Reply:
    return Reply(
        status=429,
        error_type="rate_limit_error",
        error_message="rate limit reached",
        headers={"retry-after-ms": "50"},
    )


async def call_once(env: WorkflowEnvironment, make: MakeProvider) -> str:
    """Run the call to its end; the category on success, else raise the workflow's failure."""
    activities = AgentActivities({"openai": make("openai")})
    queue = f"attempts-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[OneAgentCallWorkflow],
        activities=[activities.classify_ticket],
    ):
        return await env.client.execute_workflow(
            OneAgentCallWorkflow.run,
            args=[classify_request().model_copy(update={"route": ROUTE}), queue],
            id=f"attempts-{uuid.uuid4().hex}",
            task_queue=queue,
        )


async def test_a_provider_that_stalls_every_time_is_given_up_after_five_attempts(
    dev_env: WorkflowEnvironment, fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    # Two 429s first, counted by the attempts that got them in their last heartbeat (were the
    # count lost, or every attempt counted, the call would end after five requests, not seven);
    # then a stream that starts and hangs on every request: each attempt ends by the heartbeat
    # timeout, raising nothing.
    fake.push(rate_limited(), rate_limited())
    fake.responder = lambda _request: Reply(output=VALID_CLASSIFICATION, stall=True)

    with pytest.raises(WorkflowFailureError) as failed:
        await call_once(dev_env, make_llm_provider)

    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError) and cause.cause.type == EXHAUSTED_TYPE
    assert f"{OTHER_FAILURE_ATTEMPTS} attempts of this call failed" in cause.cause.message
    # The sixth attempt after the 429s refused without calling the provider again.
    assert len(fake.requests) == 2 + OTHER_FAILURE_ATTEMPTS
