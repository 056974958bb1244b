"""Each provider keeps the limits its API declares in its response headers (requests and
tokens), read off the real openai and anthropic SDKs' HTTP responses (a streamed answer and a
429 alike), and paces its calls by them until the queue's rate holds."""

import asyncio
import itertools
import threading
from collections.abc import Callable

import pytest

from activities.agent_specs import CLASSIFIER
from tests.providers.conftest import MODELS, MakeOpenAI, MakeProvider
from tests.providers.helpers import VALID_CLASSIFICATION, classify_request, raised
from tests.support.fake_llm import FakeLLMServer, Recorded, Reply


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


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_key_check_after_a_call_in_the_same_task_declares_no_model_limit(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str
) -> None:
    """The model a call was for is the calling task's only while the call runs: a check in the
    same task after it (a command, a test) once had its list's limit taken for that model's."""
    provider = make_llm_provider(kind)
    fake.limit(2.0, headers=True)
    fake.push(Reply(output=VALID_CLASSIFICATION))
    await provider.run(CLASSIFIER, classify_request(), MODELS[kind])

    fake.limit(1.0, headers=True)
    assert await provider.check() is None
    assert provider.declared_rate == pytest.approx(2.0)


async def test_openai_counts_the_prompt_and_the_answer_it_may_write_against_tokens(
    fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    """A token limit becomes requests per second through what each request counts: for
    OpenAI, its prompt plus max_completion_tokens (the provider's max_output_tokens)."""
    provider = make_llm_provider("openai")
    counted = 100 + provider.config.max_output_tokens  # the reply's prompt + the reserve
    headers = {"x-ratelimit-limit-requests": "6000", "x-ratelimit-limit-tokens": str(counted * 30)}
    fake.push(
        Reply(output=VALID_CLASSIFICATION, input_tokens=100, output_tokens=20, headers=headers)
    )
    await provider.run(CLASSIFIER, classify_request(), MODELS["openai"])
    assert provider.declared_rate == pytest.approx(0.5)  # 30 requests a minute, not 6,000


async def test_anthropic_counts_uncached_input_and_output_against_their_own_limits(
    fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    provider = make_llm_provider("anthropic")
    headers = {
        "anthropic-ratelimit-requests-limit": "6000",
        # 400 uncached input tokens a request: 60 requests a minute; 20 output: 120.
        "anthropic-ratelimit-input-tokens-limit": "24000",
        "anthropic-ratelimit-output-tokens-limit": "2400",
        "anthropic-ratelimit-tokens-limit": "2400",  # the most restrictive: not read with them
    }
    reply = Reply(
        output=VALID_CLASSIFICATION,
        input_tokens=1_000,
        cached_tokens=600,  # read from the cache: not counted against the input limit
        output_tokens=20,
        headers=headers,
    )
    fake.push(reply)
    await provider.run(CLASSIFIER, classify_request(), MODELS["anthropic"])
    assert provider.declared_rate == pytest.approx(1.0)


async def test_a_token_limit_refuses_above_its_tokens_and_sets_the_rate_from_them(
    fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    """The fake's token bucket (the benchmarks' token-bound provider) counts a request as OpenAI
    does, and the provider reads the declared token limit back into requests per second."""
    provider = make_llm_provider("openai")
    counted = fake.prompt_tokens_counted + provider.config.max_output_tokens
    fake.limit_tokens(counted * 2 * 60)  # two requests' tokens a second
    request = Recorded("POST", "/v1/chat/completions", {}, {"max_completion_tokens": 2048}, 0.0)
    # The bucket starts full, a second's worth: two such requests, not a third at once.
    assert [fake.refused(request) for _ in range(3)] == [False, False, True]
    fake.limit_tokens(counted * 2 * 60)  # full again
    fake.responder = lambda request: Reply(output=VALID_CLASSIFICATION)
    await provider.run(CLASSIFIER, classify_request(), MODELS["openai"])
    assert fake.calls()[-1].reply.headers["x-ratelimit-limit-tokens"] == str(counted * 120)
    assert provider.declared_rate == pytest.approx(2.0)


def answered_together(after_first: bool, together: int) -> Callable[[Recorded], Reply]:
    """A responder that answers the first request at once when ``after_first``, and holds each
    of the others until ``together`` of them have arrived: a 200 then, a 400 (not retried:
    the call fails) when they never did within 10 s, the calls having gone one by one."""
    barrier = threading.Barrier(together, timeout=10)
    seen = itertools.count()

    def respond(request: Recorded) -> Reply:
        if after_first and next(seen) == 0:
            return Reply(output=VALID_CLASSIFICATION)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return Reply(status=400, error_type="invalid_request_error", error_message="alone")
        return Reply(output=VALID_CLASSIFICATION)

    return respond


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_until_the_provider_has_answered_once_one_call_goes_out_at_a_time(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str
) -> None:
    """Before a first answer the queue has no rate (none declared yet): the other calls wait
    for the probe's headers instead of all meeting the provider's limit at once."""
    provider = make_llm_provider(kind)
    fake.responder = answered_together(after_first=True, together=2)
    calls = [provider.run(CLASSIFIER, classify_request(), MODELS[kind]) for _ in range(3)]
    await asyncio.gather(*calls)
    first, *others = sorted(fake.calls(), key=lambda c: c.at)
    assert len(others) == 2 and first.answered_at is not None
    assert all(o.at >= first.answered_at for o in others)  # the probe alone, answered first
    # Then together (the limit was not declared): each of the two was answered only once the
    # other had arrived, which a provider sending them one by one never lets happen.
    assert [o.reply is not None and o.reply.status for o in others] == [200, 200]


async def test_a_configured_rate_sends_the_first_calls_together(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    provider = make_openai(requests_per_minute=600)  # the queue's rate holds from the start
    fake.responder = answered_together(after_first=False, together=3)
    calls = [provider.run(CLASSIFIER, classify_request(), MODELS["openai"]) for _ in range(3)]
    await asyncio.gather(*calls)
    # All three out before the first answer: each was answered only once all had arrived.
    assert [c.reply is not None and c.reply.status for c in fake.calls()] == [200, 200, 200]
