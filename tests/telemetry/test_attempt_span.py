"""An agent call's span counts its own attempt's tokens and dollars, not those its earlier
attempts carried in their heartbeats (the reply bills both, once, to the workflow): a trace
backend that sums spans counted the earlier attempt's tokens twice."""

import dataclasses

from temporalio.testing import ActivityEnvironment

from activities.agent_specs import CLASSIFIER
from activities.agent_telemetry import observed_call
from shared.agents import (
    AgentReply,
    AgentRoute,
    Category,
    Classification,
    Usage,
    total_usage,
)
from tests.support.spans import collector
from tests.support.tickets import make_ticket

EARLIER = Usage(provider="p", model="m", input_tokens=700, output_tokens=40, cost_usd=0.01)
THIS = Usage(provider="p", model="m", input_tokens=500, output_tokens=30, cost_usd=0.007)


async def test_the_span_of_a_retried_call_counts_this_attempt_only() -> None:
    reply = AgentReply(
        output=Classification(category=Category.BILLING, confidence=0.9, rationale="x"),
        usage=total_usage([EARLIER, THIS]),
    )

    async def call() -> AgentReply[Classification]:
        return reply

    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, attempt=2, heartbeat_details=[{"usage": EARLIER.model_dump(mode="json")}]
    )
    request = CLASSIFIER.input_model.model_validate({"ticket": make_ticket()})
    route = AgentRoute(provider="p", model="m")
    with collector().collecting() as spans:
        got = await env.run(observed_call, CLASSIFIER, route, "openai", request, call)

    [span] = [s for s in spans if s.name == "chat m"]
    assert got.usage.input_tokens == 1200  # the workflow is billed both attempts, once
    assert span.attributes is not None
    assert span.attributes["gen_ai.usage.input_tokens"] == 500
    assert span.attributes["gen_ai.usage.output_tokens"] == 30
    assert span.attributes["tickets.cost_usd"] == 0.007
