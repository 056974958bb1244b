"""A provider failure reaches the rate controller with when its attempt began: the breaker's
probe counts only the failures of calls it sent (patch probe-fresh-failures), so a call begun
before the breaker opened, failing while it probes, does not open it again."""

import dataclasses
from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.agent_activities import AgentActivities
from activities.rate_reports import FAILED_TYPES, OutcomeReporter
from shared.agents import AgentRoute
from tests.providers.conftest import MODELS, MakeProvider
from tests.providers.helpers import classify_request
from tests.support.fake_llm import FakeLLMServer, Reply


async def test_a_failed_call_reports_when_its_attempt_began(
    fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    began = datetime(2026, 12, 7, 14, 0, 5, tzinfo=UTC)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, started_time=began)
    # record() never talks to Temporal; the client is only used to send the counts.
    reporter = OutcomeReporter(None, "llm-openai", "rate-control", 2.0, 30.0)  # type: ignore[arg-type]
    activities = AgentActivities(
        {"openai": make_llm_provider("openai")}, reporters={"openai": reporter}
    )
    request = classify_request().model_copy(
        update={"route": AgentRoute(provider="openai", model=MODELS["openai"])}
    )
    fake.push(Reply(status=503, error_type="overloaded_error"))

    with pytest.raises(ApplicationError) as raised:
        await env.run(activities.classify_ticket, request)

    assert raised.value.type in FAILED_TYPES  # what the breaker counts
    assert reporter.pending().failed == 1
    assert reporter.pending().failed_started == [began.timestamp()]
