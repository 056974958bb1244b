"""The Anthropic provider against a fake Anthropic server: the real anthropic SDK over HTTP on
127.0.0.1. The answer comes as the input of a forced tool call."""

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from activities.agent_specs import CLASSIFIER
from activities.providers.anthropic_provider import AnthropicProvider
from activities.providers.base import AgentSpec
from activities.providers.errors import ProviderCheckError
from shared.agents import Classification, Usage
from shared.provider_config import cost_usd, default_prices, default_providers
from tests.providers.fake_stream import FakeStreamServer
from tests.providers.helpers import (
    ALL_SPECS,
    API_KEY,
    PLAIN_KEY,
    REJECTED_KEY,
    REMINDER_SPEC,
    TICKET,
    VALID_CLASSIFICATION,
    VALID_REMINDER,
    WRONG_CATEGORY,
    Reminder,
    assert_key_hidden,
    classify_request,
    free_port,
    raised,
    request_for,
    strictness_problems,
)
from tests.support.fake_llm import FakeLLMServer, Reply, good_answers

MODEL = "claude-haiku-4-5"
PRICE = default_prices()[MODEL]
TOOL = "submit_classification"

MakeProvider = Callable[..., AnthropicProvider]


@pytest.fixture
async def make_provider(fake: FakeLLMServer) -> AsyncIterator[MakeProvider]:
    """Builds Anthropic providers pointed at the fake (or at base_url); closes them afterwards."""
    made: list[AnthropicProvider] = []

    def make(key: str = API_KEY, base_url: str | None = None, **config: Any) -> AnthropicProvider:
        settings = default_providers()["anthropic"].model_copy(
            update={"base_url": base_url or fake.anthropic_base_url, **config}
        )
        provider = AnthropicProvider("anthropic", settings, key, default_prices())
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


# ---- answers -------------------------------------------------------------------------------------


async def test_valid_answer_becomes_the_output_model_with_usage_and_cost(
    fake: FakeLLMServer, make_provider: MakeProvider
) -> None:
    fake.push(
        Reply(output=VALID_CLASSIFICATION, input_tokens=1000, output_tokens=200, cached_tokens=400)
    )

    reply = await make_provider().run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    usage = reply.usage
    assert (usage.provider, usage.model) == ("anthropic", MODEL)
    # Anthropic reports cache reads apart from input_tokens; usage counts them as input.
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (1000, 200, 400)
    assert usage.requests == 1
    assert usage.cost_usd == pytest.approx(cost_usd(PRICE, 1000, 200, 400))
    assert usage.cost_usd > 0


async def test_request_is_a_streamed_message_forcing_the_single_submit_tool(
    fake: FakeLLMServer, make_provider: MakeProvider
) -> None:
    fake.push(Reply(output=VALID_CLASSIFICATION))

    await make_provider().run(CLASSIFIER, classify_request(), MODEL)

    [call] = fake.calls()
    assert call.path == "/v1/messages"
    assert call.headers["authorization"] == f"Bearer {API_KEY}"
    assert "anthropic-version" in call.headers
    body = call.body
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["max_tokens"] == default_providers()["anthropic"].max_output_tokens
    assert body["system"] == CLASSIFIER.instructions
    [user] = body["messages"]
    assert user["role"] == "user"
    assert TICKET.subject in user["content"]
    assert TICKET.body in user["content"]
    [tool] = body["tools"]
    assert tool["name"] == TOOL
    assert body["tool_choice"] == {"type": "tool", "name": TOOL}


@pytest.mark.parametrize("spec", ALL_SPECS)
async def test_tool_input_schema_is_the_output_model_with_closed_objects_and_no_defaults(
    fake: FakeLLMServer, make_provider: MakeProvider, spec: AgentSpec[Any, Any]
) -> None:
    fake.responder = good_answers

    reply = await make_provider().run(spec, request_for(spec), MODEL)

    assert isinstance(reply.output, spec.output_model)
    [tool] = fake.calls()[0].body["tools"]
    assert fake.calls()[0].output_name == spec.output_model.__name__
    assert set(tool["input_schema"]["properties"]) == set(spec.output_model.model_fields)
    assert strictness_problems(tool["input_schema"]) == []


async def test_tool_schema_drops_defaults_and_keywords_strict_schemas_reject(
    fake: FakeLLMServer, make_provider: MakeProvider
) -> None:
    fake.push(Reply(output=VALID_REMINDER))

    reply = await make_provider().run(REMINDER_SPEC, classify_request(), MODEL)

    assert reply.output == Reminder.model_validate(VALID_REMINDER)
    [tool] = fake.calls()[0].body["tools"]
    assert tool["name"] == "submit_reminder"
    assert strictness_problems(tool["input_schema"]) == []
    assert "maxLength" not in json.dumps(tool["input_schema"])


# ---- the repair round ----------------------------------------------------------------------------


async def test_tool_input_that_violates_the_schema_is_answered_with_an_error_tool_result(
    fake: FakeLLMServer, make_provider: MakeProvider
) -> None:
    fake.push(
        Reply(output=WRONG_CATEGORY, input_tokens=1000, output_tokens=200, cached_tokens=400),
        Reply(
            output=VALID_CLASSIFICATION, input_tokens=1300, output_tokens=150, cached_tokens=1000
        ),
    )

    reply = await make_provider().run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    first, second = fake.calls()
    assert second.body["messages"][:1] == first.body["messages"]
    assistant, repair = second.body["messages"][1:]
    assert assistant["role"] == "assistant"
    [tool_use] = assistant["content"]
    assert (tool_use["type"], tool_use["name"]) == ("tool_use", TOOL)
    assert tool_use["input"] == WRONG_CATEGORY
    assert repair["role"] == "user"
    [result] = repair["content"]
    assert result["type"] == "tool_result"
    assert result["tool_use_id"] == tool_use["id"]
    assert result["is_error"] is True
    assert "category" in result["content"]
    usage = reply.usage
    assert usage.requests == 2
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (2300, 350, 1400)
    assert usage.cost_usd == pytest.approx(cost_usd(PRICE, 2300, 350, 1400))


async def test_text_answer_without_the_tool_call_gets_a_text_repair_round(
    fake: FakeLLMServer, make_provider: MakeProvider
) -> None:
    fake.push(
        Reply(text="It looks like an account problem to me."),
        Reply(output=VALID_CLASSIFICATION),
    )

    reply = await make_provider().run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    assert reply.usage.requests == 2
    assistant, repair = fake.calls()[1].body["messages"][1:]
    assert [block["type"] for block in assistant["content"]] == ["text"]
    assert assistant["content"][0]["text"] == "It looks like an account problem to me."
    [instruction] = repair["content"]
    assert instruction["type"] == "text"  # no tool_use to answer, so no tool_result
    assert f"no {TOOL} tool call" in instruction["text"]


async def test_output_still_invalid_after_the_repair_is_non_retryable_and_carries_the_usage(
    fake: FakeLLMServer, make_provider: MakeProvider
) -> None:
    fake.push(
        Reply(text="Account, I think.", input_tokens=100, output_tokens=20),
        Reply(output=WRONG_CATEGORY, input_tokens=150, output_tokens=30),
    )

    err = await raised(make_provider().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "InvalidModelOutput"
    assert err.non_retryable is True
    assert "category" in err.message
    usage = Usage.model_validate(err.details[0])
    assert usage.requests == 2
    assert (usage.provider, usage.model) == ("anthropic", MODEL)
    assert (usage.input_tokens, usage.output_tokens) == (250, 50)
    assert len(fake.calls()) == 2


# ---- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        pytest.param({"retry-after": "7"}, timedelta(seconds=7), id="retry-after"),
        pytest.param({"retry-after-ms": "2500"}, timedelta(seconds=2.5), id="retry-after-ms"),
    ],
)
async def test_rate_limit_is_retryable_after_the_wait_the_server_asks_for(
    fake: FakeLLMServer, make_provider: MakeProvider, headers: dict[str, str], delay: timedelta
) -> None:
    fake.push(
        Reply(
            status=429,
            error_type="rate_limit_error",
            error_message="Number of requests has exceeded your rate limit",
            headers=headers,
        )
    )

    err = await raised(make_provider().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderRateLimited"
    assert err.non_retryable is False
    assert err.next_retry_delay == delay


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        pytest.param(500, "api_error", id="500-api-error"),
        pytest.param(529, "overloaded_error", id="529-overloaded"),
    ],
)
async def test_server_errors_and_overload_are_retryable(
    fake: FakeLLMServer, make_provider: MakeProvider, status: int, error_type: str
) -> None:
    fake.push(Reply(status=status, error_type=error_type, error_message="Overloaded"))

    err = await raised(make_provider().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderUnavailable"
    assert err.non_retryable is False
    assert f"({status})" in err.message


async def test_overloaded_error_event_inside_the_stream_is_retryable() -> None:
    message_start = {
        "type": "message_start",
        "message": {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 1},
        },
    }
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with FakeStreamServer() as fake_stream:
        fake_stream.push([("message_start", message_start), ("error", overloaded)])
        settings = default_providers()["anthropic"].model_copy(
            update={"base_url": fake_stream.base_url}
        )
        provider = AnthropicProvider("anthropic", settings, API_KEY, default_prices())
        try:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))
        finally:
            await provider.aclose()

    assert err.type == "ProviderUnavailable"
    assert err.non_retryable is False
    assert "(529)" in err.message  # the status the error would have had outside a stream


@pytest.mark.parametrize("key", [API_KEY, PLAIN_KEY], ids=["sk-key", "plain-key"])
async def test_rejected_key_is_non_retryable_and_the_error_never_shows_the_key(
    fake: FakeLLMServer, make_provider: MakeProvider, key: str
) -> None:
    fake.push(
        Reply(
            status=401,
            error_type="authentication_error",
            error_message=f"invalid x-api-key {key}",
        )
    )

    err = await raised(make_provider(key=key).run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderAuthenticationError"
    assert err.non_retryable is True
    assert "invalid x-api-key" in err.message
    assert_key_hidden(err, key)


async def test_prompt_over_the_context_length_is_non_retryable(
    fake: FakeLLMServer, make_provider: MakeProvider
) -> None:
    fake.push(
        Reply(
            status=400,
            error_type="invalid_request_error",
            error_message="prompt is too long: 210000 tokens > 200000 maximum",
        )
    )

    err = await raised(make_provider().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ContextLengthExceeded"
    assert err.non_retryable is True
    assert "210000 tokens" in err.message


async def test_other_bad_request_is_non_retryable_but_not_a_context_length_error(
    fake: FakeLLMServer, make_provider: MakeProvider
) -> None:
    fake.push(
        Reply(
            status=400,
            error_type="invalid_request_error",
            error_message="tools.0.input_schema: JSON schema is invalid",
        )
    )

    err = await raised(make_provider().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderBadRequest"
    assert err.non_retryable is True


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(Reply(status=500, error_type="api_error"), id="500"),
        pytest.param(Reply(status=529, error_type="overloaded_error"), id="529"),
        pytest.param(
            Reply(status=429, error_type="rate_limit_error", headers={"retry-after": "0"}),
            id="429",
        ),
    ],
)
async def test_sdk_does_not_retry_temporal_retry_policy_does(
    fake: FakeLLMServer, make_provider: MakeProvider, failure: Reply
) -> None:
    fake.push(failure, Reply(output=VALID_CLASSIFICATION))

    await raised(make_provider().run(CLASSIFIER, classify_request(), MODEL))

    assert len(fake.calls()) == 1


async def test_unreachable_server_is_a_retryable_connection_error(
    make_provider: MakeProvider,
) -> None:
    provider = make_provider(base_url=f"http://127.0.0.1:{free_port()}")

    err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderConnectionError"
    assert err.non_retryable is False


async def test_stream_that_stalls_ends_in_a_retryable_timeout(
    fake: FakeLLMServer, make_provider: MakeProvider
) -> None:
    fake.push(Reply(output=VALID_CLASSIFICATION, stall=True))

    err = await raised(
        make_provider(timeout_seconds=0.3).run(CLASSIFIER, classify_request(), MODEL)
    )

    assert err.type == "ProviderTimeout"
    assert err.non_retryable is False


# ---- check() -------------------------------------------------------------------------------------


async def test_check_passes_with_an_accepted_key(
    fake: FakeLLMServer, make_provider: MakeProvider
) -> None:
    assert await make_provider().check() is None

    [call] = fake.requests
    assert (call.method, call.path.split("?")[0]) == ("GET", "/v1/models")
    assert call.headers["authorization"] == f"Bearer {API_KEY}"


async def test_check_stops_on_a_rejected_key_naming_its_environment_variable(
    make_provider: MakeProvider,
) -> None:
    with pytest.raises(ProviderCheckError) as info:
        await make_provider(key=REJECTED_KEY).check()

    message = str(info.value)
    assert "ANTHROPIC_API_KEY" in message
    assert "401" in message
    assert REJECTED_KEY not in message


async def test_check_warns_but_does_not_stop_when_the_server_is_unreachable(
    make_provider: MakeProvider,
) -> None:
    warning = await make_provider(base_url=f"http://127.0.0.1:{free_port()}").check()

    assert isinstance(warning, str)
    assert warning.startswith("anthropic: could not verify the API key")
    assert "cannot reach" in warning
