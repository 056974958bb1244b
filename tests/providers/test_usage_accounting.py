"""Every token a provider bills is reported: the first call's when the repair call fails, an
earlier attempt's when a retry answers, and Anthropic's prompt-cache writes at their own price.
The real openai and anthropic SDKs against the fake server."""

import dataclasses
import time
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.agent_specs import CLASSIFIER
from shared.agents import Usage
from shared.provider_config import (
    CACHE_WRITE_MULTIPLIER,
    ModelPrice,
    cost_usd,
    default_prices,
)
from tests.providers.conftest import MODELS, MakeProvider
from tests.providers.helpers import (
    VALID_CLASSIFICATION,
    WRONG_CATEGORY,
    classify_request,
    raised,
)
from tests.support.fake_llm import FakeLLMServer, Reply


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """Every test here on both HTTP transports (tests/providers/conftest.py)."""
    return str(request.param)


KINDS = ["openai", "anthropic"]


def price(kind: str) -> ModelPrice:
    return default_prices()[MODELS[kind]]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(Reply(disconnect=True), id="connection-dropped"),
        pytest.param(Reply(status=503, error_type="overloaded_error"), id="server-error"),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
async def test_when_the_repair_call_fails_the_first_calls_tokens_travel_in_the_error(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str, failure: Reply
) -> None:
    fake.push(Reply(output=WRONG_CATEGORY, input_tokens=300, output_tokens=40), failure)

    err = await raised(make_llm_provider(kind).run(CLASSIFIER, classify_request(), MODELS[kind]))

    assert err.non_retryable is False  # still a transient failure: Temporal retries it
    assert err.type in ("ProviderConnectionError", "ProviderOverloaded")
    usage = Usage.model_validate(err.details[0])
    assert (usage.input_tokens, usage.output_tokens, usage.requests) == (300, 40, 1)
    assert usage.input_tokens + usage.output_tokens == fake.billed_tokens()
    assert usage.cost_usd == pytest.approx(cost_usd(price(kind), 300, 40, 0), rel=1e-6)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_failure_before_any_answer_carries_no_usage(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str
) -> None:
    fake.push(Reply(status=503, error_type="overloaded_error"))
    err = await raised(make_llm_provider(kind).run(CLASSIFIER, classify_request(), MODELS[kind]))
    assert err.details == () or not err.details


def attempt(heartbeat_details: list[Any]) -> tuple[ActivityEnvironment, list[tuple[Any, ...]]]:
    """An activity attempt whose earlier attempts heartbeated ``heartbeat_details``."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        attempt=2,
        heartbeat_details=heartbeat_details,
        heartbeat_timeout=timedelta(seconds=20),
    )
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    return env, beats


@pytest.mark.parametrize("named", [True, False], ids=["named-entries", "older-worker"])
@pytest.mark.parametrize("kind", KINDS)
async def test_a_retry_adds_what_earlier_attempts_spent_and_heartbeats_carry_it(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str, named: bool
) -> None:
    model = MODELS[kind]
    earlier = Usage(
        provider=kind,
        model=model,
        input_tokens=300,
        output_tokens=40,
        cost_usd=cost_usd(price(kind), 300, 40, 0),
        requests=1,
    )
    # A worker from before named entries heartbeated the usage alone: still counted.
    spent = earlier.model_dump(mode="json")
    env, beats = attempt([{"usage": spent, "rate_limited": 1} if named else spent])
    fake.push(Reply(output=VALID_CLASSIFICATION, input_tokens=310, output_tokens=45))
    provider = make_llm_provider(kind)

    reply = await env.run(provider.run, CLASSIFIER, classify_request(), model)

    usage = reply.usage
    assert (usage.input_tokens, usage.output_tokens, usage.requests) == (610, 85, 2)
    assert usage.cost_usd == pytest.approx(cost_usd(price(kind), 610, 85, 0), rel=1e-6)
    # Heartbeats of this attempt carry what the earlier ones spent: a third attempt (after this
    # worker died mid-call, say) would still count the first request.
    assert beats, "the stream's first chunk beats (no attempt start is known here)"
    assert all(b for b in beats), "a heartbeat without the carried usage would wipe it"
    carried = [Usage.model_validate(b[0]["usage"]) for b in beats]
    assert all(c.input_tokens == 300 for c in carried)
    if named:  # what else earlier attempts carried travels on
        assert all(b[0]["rate_limited"] == 1 for b in beats)


@pytest.mark.parametrize("kind", KINDS)
async def test_before_the_repair_call_the_first_answers_usage_is_heartbeated(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str
) -> None:
    env, _ = attempt([])
    usage_beats: list[tuple[float, Usage]] = []  # when (the fake's clock), what
    env.on_heartbeat = lambda *details: usage_beats.extend(
        (time.monotonic(), Usage.model_validate(d["usage"])) for d in details if "usage" in d
    )
    fake.push(
        Reply(output=WRONG_CATEGORY, input_tokens=300, output_tokens=40),
        Reply(output=VALID_CLASSIFICATION, input_tokens=340, output_tokens=45),
    )

    reply = await env.run(make_llm_provider(kind).run, CLASSIFIER, classify_request(), MODELS[kind])

    assert (reply.usage.input_tokens, reply.usage.requests) == (640, 2)
    # A worker that dies during the repair call leaves the first answer's tokens on the server
    # for the next attempt: they are heartbeated before the repair request goes out.
    assert len(fake.requests) == 2
    first_carried_at, first_carried = usage_beats[0]
    assert first_carried.input_tokens == 300
    assert first_carried_at < fake.requests[1].at


async def test_anthropic_cache_writes_are_billed_at_the_cache_write_rate(
    fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    model = MODELS["anthropic"]
    fake.push(
        Reply(
            output=VALID_CLASSIFICATION,
            input_tokens=5_000,
            cached_tokens=1_000,
            cache_write_tokens=3_000,
            output_tokens=200,
        )
    )

    reply = await make_llm_provider("anthropic").run(CLASSIFIER, classify_request(), model)

    usage = reply.usage
    assert (usage.input_tokens, usage.cached_tokens, usage.cache_write_tokens) == (
        5_000,
        1_000,
        3_000,
    )
    p = price("anthropic")
    assert p.cache_write == pytest.approx(p.input * CACHE_WRITE_MULTIPLIER)
    expected = 1_000 * p.input + 1_000 * p.cached_input + 3_000 * p.cache_write + 200 * p.output
    assert usage.cost_usd == pytest.approx(expected / 1_000_000, rel=1e-6)
    # Priced as plain input, the writes would have cost less than they do.
    assert usage.cost_usd > cost_usd(p, 5_000, 200, 1_000, 0)


def test_a_configured_price_without_a_cache_write_rate_uses_the_5_minute_multiplier() -> None:
    configured = ModelPrice(input=2.0, output=10.0)
    assert configured.cache_write_rate == pytest.approx(2.5)
    assert cost_usd(configured, 1_000_000, 0, 0, 1_000_000) == pytest.approx(2.5)


@pytest.mark.parametrize("kind", KINDS)
async def test_the_model_that_answered_is_kept_beside_the_one_asked_for(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str
) -> None:
    # A provider answers with a dated snapshot of an alias, a gateway with its substitute: the
    # span's gen_ai.response.model and the usage say which model wrote the answer.
    fake.push(Reply(output=VALID_CLASSIFICATION, answered_model="snapshot-2026-01-01"))
    reply = await make_llm_provider(kind).run(CLASSIFIER, classify_request(), MODELS[kind])
    assert (reply.usage.model, reply.usage.response_model) == (MODELS[kind], "snapshot-2026-01-01")
