"""Each provider keeps the request limit its API declares in its response headers, read off the
real openai and anthropic SDKs' HTTP responses (a streamed answer and a 429 alike)."""

import pytest

from activities.agent_specs import CLASSIFIER
from tests.providers.conftest import MODELS, MakeProvider
from tests.providers.helpers import VALID_CLASSIFICATION, classify_request, raised
from tests.support.fake_llm import FakeLLMServer, Reply


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_an_answer_and_a_429_both_carry_the_declared_limit_to_the_provider(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str
) -> None:
    provider = make_llm_provider(kind)
    assert provider.declared_rate is None  # nothing seen yet
    fake.limit(1.0, headers=True)
    fake.push(Reply(output=VALID_CLASSIFICATION))

    await provider.run(CLASSIFIER, classify_request(), MODELS[kind])
    assert provider.declared_rate == pytest.approx(1.0)  # 60 a minute, in the headers
    answered = fake.calls()[0].reply
    assert answered is not None and answered.status == 200

    # A limit of 2 a second (120 a minute) declared on a 429 (the bucket is not what refuses here).
    fake.limit(2.0, headers=True)
    fake.push(Reply(status=429, error_type="rate_limit_error", headers={"retry-after": "1"}))
    err = await raised(provider.run(CLASSIFIER, classify_request(), MODELS[kind]))
    assert err.type == "ProviderRateLimited"
    assert provider.declared_rate == pytest.approx(2.0)  # read off the 429 too


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_provider_that_declares_nothing_leaves_the_limit_unknown(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str
) -> None:
    provider = make_llm_provider(kind)
    fake.push(Reply(output=VALID_CLASSIFICATION))
    await provider.run(CLASSIFIER, classify_request(), MODELS[kind])
    assert provider.declared_rate is None


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_models_with_limits_of_their_own_leave_the_lowest_in_force(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str
) -> None:
    """Providers limit each model on its own and one queue carries them all: the lowest limit
    holds however the calls alternate, and a model's new limit replaces its old one."""
    provider = make_llm_provider(kind)
    small, large = MODELS[kind], MODELS[kind] + "-large"

    async def answered_by(model: str, declared: float) -> float | None:
        fake.limit(declared, headers=True)
        fake.push(Reply(output=VALID_CLASSIFICATION))
        await provider.run(CLASSIFIER, classify_request(), model)
        return provider.declared_rate

    assert await answered_by(large, 2.0) == pytest.approx(2.0)
    assert await answered_by(small, 8.0) == pytest.approx(2.0)  # the large model's still holds
    assert await answered_by(large, 4.0) == pytest.approx(4.0)  # its limit was raised
    assert await answered_by(small, 8.0) == pytest.approx(4.0)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_the_key_check_at_start_declares_no_model_limit(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str
) -> None:
    """The model list answers with the headers too, but its limit is no model's: it must not
    hold down the lowest of the models' limits for good."""
    provider = make_llm_provider(kind)
    fake.limit(1.0, headers=True)
    assert await provider.check() is None
    assert fake.calls() == [] and fake.requests[-1].method == "GET"  # the list was asked for
    assert provider.declared_rate is None
