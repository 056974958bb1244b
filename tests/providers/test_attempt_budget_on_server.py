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
from tests.support.timed_out_call_workflow import TimedOutAgentCallWorkflow

pytestmark = pytest.mark.timeout(90)

# A route with another after it: five failures other than a rate limit (a chain's last route
# gets ten, tests/unit/test_retry_budget.py).
ROUTE = AgentRoute(provider="openai", model=MODELS["openai"], hands_on=True)


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
    dev_env: WorkflowEnvironment,
    fake: FakeLLMServer,
    make_llm_provider: MakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two 429s first, counted by the attempts that got them in their last heartbeat (were the
    # count lost, or every attempt counted, the call would end after five requests, not seven);
    # then a stream that starts and hangs on every request: each attempt ends by the heartbeat
    # timeout, raising nothing, as one whose worker died does (the provider's stall limit, which
    # would end it first with an error, is put out of reach).
    monkeypatch.setattr("activities.providers.streamed_calls.STALL_SHARE_OF_HEARTBEAT", 1000.0)
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


async def test_a_call_that_runs_out_of_time_mid_attempt_still_bills_the_answer_it_was_given(
    dev_env: WorkflowEnvironment, fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    # The answer is invalid, so its usage rides on the attempt's heartbeat before the repair
    # call; that call's first chunk does not come before the call's time bound ends it. The
    # failure is a timeout with no provider error to carry the usage: it was lost before (patch
    # timeout-usage-billed).
    fake.push(Reply(output={**VALID_CLASSIFICATION, "category": "Weather"}, input_tokens=700))
    fake.responder = lambda _request: Reply(output=VALID_CLASSIFICATION, first_chunk_delay=60)
    activities = AgentActivities({"openai": make_llm_provider("openai")})
    queue = f"timed-out-{uuid.uuid4().hex[:8]}"
    async with Worker(
        dev_env.client,
        task_queue=queue,
        workflows=[TimedOutAgentCallWorkflow],
        activities=[activities.classify_ticket],
    ):
        handle = await dev_env.client.start_workflow(
            TimedOutAgentCallWorkflow.run,
            args=[classify_request().model_copy(update={"route": ROUTE}), queue, 4.0],
            id=f"timed-out-{uuid.uuid4().hex}",
            task_queue=queue,
        )
        usage = await handle.result()
        history = await handle.fetch_history()

    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.requests) == (700, 20, 1)
    assert len(fake.requests) == 2  # the answer and the repair call that hung
    markers = [
        e.marker_recorded_event_attributes.details["patch_data"]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert len(markers) == 1  # asked only because the timeout carried usage


async def test_a_first_token_slower_than_the_heartbeat_timeout_is_waited_for(
    dev_env: WorkflowEnvironment, fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    # Headers at once, the first chunk 3 s later (a vLLM server queueing the request, a model
    # thinking), with a heartbeat timeout of 1 s: the heartbeats stopped at the headers, every
    # attempt was ended as a stall, and the call gave up after five (a review, 2026-12-07).
    fake.responder = lambda _request: Reply(output=VALID_CLASSIFICATION, first_chunk_delay=3.0)

    category = await call_once(dev_env, make_llm_provider)

    assert category == VALID_CLASSIFICATION["category"]
    assert len(fake.requests) == 1


async def test_a_reasoning_model_s_role_chunk_does_not_start_the_stall_clock(
    dev_env: WorkflowEnvironment, fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    # The role alone at once, the text 3 s later (a reasoning model thinking), with a heartbeat
    # timeout of 1 s: the role chunk ended the background heartbeat and started the stall limit
    # (0.75 s), and every attempt was ended as a stall.
    fake.responder = lambda _request: Reply(
        output=VALID_CLASSIFICATION, role_chunk_first=True, first_chunk_delay=3.0
    )

    category = await call_once(dev_env, make_llm_provider)

    assert category == VALID_CLASSIFICATION["category"]
    assert len(fake.requests) == 1
