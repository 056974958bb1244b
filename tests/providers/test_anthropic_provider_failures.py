"""The Anthropic provider's failures against a fake Anthropic server (the real anthropic SDK over
HTTP): which are retried and after how long, which stop, what the error says; and check()."""

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.agent_specs import CLASSIFIER
from activities.heartbeat import begin_attempt
from activities.providers.errors import ProviderCheckError
from policy.text_budget import estimate_tokens
from tests.providers.conftest import MODELS, MakeAnthropic
from tests.providers.fake_stream import FakeStreamServer, stream_provider
from tests.providers.helpers import (
    API_KEY,
    PLAIN_KEY,
    REJECTED_KEY,
    VALID_CLASSIFICATION,
    assert_key_hidden,
    classify_request,
    free_port,
    raised,
)
from tests.support.fake_llm import FakeLLMServer, Reply


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """Every test here on both HTTP transports (tests/providers/conftest.py)."""
    return str(request.param)


MODEL = MODELS["anthropic"]


# ---- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        pytest.param({"retry-after": "7"}, timedelta(seconds=7), id="retry-after"),
        pytest.param({"retry-after-ms": "2500"}, timedelta(seconds=2.5), id="retry-after-ms"),
    ],
)
async def test_rate_limit_is_retryable_after_the_wait_the_server_asks_for(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic, headers: dict[str, str], delay: timedelta
) -> None:
    fake.push(
        Reply(
            status=429,
            error_type="rate_limit_error",
            error_message="Number of requests has exceeded your rate limit",
            headers=headers,
        )
    )

    err = await raised(make_anthropic().run(CLASSIFIER, classify_request(), MODEL))

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
    fake: FakeLLMServer, make_anthropic: MakeAnthropic, status: int, error_type: str
) -> None:
    fake.push(Reply(status=status, error_type=error_type, error_message="Overloaded"))

    err = await raised(make_anthropic().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == ("ProviderOverloaded" if status == 529 else "ProviderUnavailable")
    assert err.non_retryable is False
    assert f"({status})" in err.message


async def test_stream_that_ends_before_message_stop_is_a_retryable_failure_not_an_answer() -> None:
    # A proxy that closes the connection cleanly mid-answer, or an empty 200: retried, not
    # mistaken for a model that did not call the tool (which would cost a repair round).
    start = {
        "type": "message_start",
        "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": []},
    }
    with FakeStreamServer() as fake_stream:
        fake_stream.push([("message_start", start)], [])
        async with stream_provider("anthropic", fake_stream) as provider:
            cut = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))
            empty = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    for err in (cut, empty):
        assert err.non_retryable is False
        assert err.type != "InvalidModelOutput"
        assert "message_stop" in err.message
    assert len(fake_stream.requests) == 2  # no repair round


MESSAGE_START = {
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


async def test_a_stream_cut_after_its_prompt_was_counted_reports_what_was_billed() -> None:
    # message_start counts the prompt (Anthropic bills it); the stream then broke, and the
    # failure carried no usage: each retry billed the prompt again and none of it was counted.
    start = {**MESSAGE_START, "message": {**MESSAGE_START["message"]}}
    start["message"]["usage"] = {
        "input_tokens": 4000,
        "cache_read_input_tokens": 1000,
        "output_tokens": 3,
    }
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with FakeStreamServer() as fake_stream:
        fake_stream.push(
            [("message_start", start)], [("message_start", start), ("error", overloaded)]
        )
        async with stream_provider("anthropic", fake_stream) as provider:
            cut = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))
            broke = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    for err in (cut, broke):
        assert err.non_retryable is False
        (usage,) = err.details
        assert (usage["input_tokens"], usage["cached_tokens"], usage["output_tokens"]) == (
            5000,
            1000,
            3,
        )
        assert usage["cost_usd"] > 0 and usage["requests"] == 1


async def test_a_stream_cut_mid_answer_counts_the_answer_so_far_estimated() -> None:
    # message_start counts about one output token; the whole answer's count comes in
    # message_delta, which a stream cut mid-answer never sends: an 800-character tool input was
    # billed and counted as 1 token (each retry of a long draft cut near its end likewise).
    block = {"type": "tool_use", "id": "toolu_1", "name": "classify", "input": {}}
    so_far = '{"category": "billing", "reason": "' + "x" * 760
    delta = {"type": "input_json_delta", "partial_json": so_far}
    start = {"type": "content_block_start", "index": 0, "content_block": block}
    events = [
        ("message_start", MESSAGE_START),
        ("content_block_start", start),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
    ]
    with FakeStreamServer() as fake_stream:
        fake_stream.push(events)
        async with stream_provider("anthropic", fake_stream) as provider:
            cut = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    (usage,) = cut.details
    assert usage["input_tokens"] == 100
    assert usage["output_tokens"] == estimate_tokens(so_far) > 100
    assert usage["estimated"] is True


async def test_the_next_attempt_of_a_call_whose_stream_broke_counts_what_it_was_billed() -> None:
    # The usage rides on the attempt's heartbeat (the server hands it to the retry): the error's
    # details reach the workflow only from the call's last attempt.
    with FakeStreamServer() as fake_stream:
        fake_stream.push([("message_start", MESSAGE_START)])
        async with stream_provider("anthropic", fake_stream) as provider:
            env = ActivityEnvironment()
            env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=20))
            beats: list[tuple[Any, ...]] = []
            env.on_heartbeat = lambda *details: beats.append(details)

            async def attempt() -> ApplicationError:
                begin_attempt()
                return await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

            err = await env.run(attempt)

    assert err.non_retryable is False
    carried = beats[-1][0]["usage"]
    assert (carried["input_tokens"], carried["output_tokens"]) == (100, 1)


async def test_overloaded_error_event_inside_the_stream_is_retryable() -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with FakeStreamServer() as fake_stream:
        fake_stream.push([("message_start", MESSAGE_START), ("error", overloaded)])
        async with stream_provider("anthropic", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderOverloaded"
    assert err.non_retryable is False
    assert "(529)" in err.message  # the status the error would have had outside a stream


async def test_an_error_event_given_as_a_string_keeps_its_words() -> None:
    # The message was the status alone ("Error code: 200"), the proxy's text dropped.
    error = {"type": "error", "error": "upstream overloaded, try later"}
    with FakeStreamServer() as fake_stream:
        fake_stream.push([("message_start", MESSAGE_START), ("error", error)])
        async with stream_provider("anthropic", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert "upstream overloaded, try later" in err.message


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("invalid_request_error", "ProviderBadRequest"),
        ("authentication_error", "ProviderAuthenticationError"),
        ("not_found_error", "ProviderNotFound"),
    ],
)
async def test_a_client_error_event_inside_the_stream_is_not_retried(
    kind: str, expected: str
) -> None:
    # Gateways report errors in the stream after a 200: a rejected request is not a 500.
    error = {"type": "error", "error": {"type": kind, "message": "no"}}
    with FakeStreamServer() as fake_stream:
        fake_stream.push([("message_start", MESSAGE_START), ("error", error)])
        async with stream_provider("anthropic", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert (err.type, err.non_retryable) == (expected, True)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # A gateway's code (LiteLLM's "429") read: a rate limit counted as a server failure.
        (
            {"type": "api_error", "code": "429", "message": "slow down"},
            ("ProviderRateLimited", False),
        ),
        # A number as the type: an AttributeError escaped, unclassified.
        ({"type": 529, "message": "busy"}, ("ProviderOverloaded", False)),
    ],
    ids=["code-429", "type-a-number"],
)
async def test_an_error_event_is_read_by_its_code_too_and_a_type_that_is_no_text(
    error: dict[str, object], expected: tuple[str, bool]
) -> None:
    with FakeStreamServer() as fake_stream:
        fake_stream.push(
            [("message_start", MESSAGE_START), ("error", {"type": "error", "error": error})]
        )
        async with stream_provider("anthropic", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert (err.type, err.non_retryable) == expected, err.message


async def test_a_stop_reason_that_is_not_text_is_a_malformed_answer() -> None:
    # A number there failed later, building the usage: unclassified, the usage lost.
    delta = {"type": "message_delta", "delta": {"stop_reason": 3}, "usage": {"output_tokens": 5}}
    with FakeStreamServer() as fake_stream:
        fake_stream.push([("message_start", MESSAGE_START), ("message_delta", delta)])
        async with stream_provider("anthropic", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderMalformedAnswer", (err.type, err.message)
    # The event's usage read before its reason: what the provider counted is billed.
    [spent] = err.details
    assert spent["output_tokens"] == 5, spent


@pytest.mark.parametrize("key", [API_KEY, PLAIN_KEY], ids=["sk-key", "plain-key"])
async def test_rejected_key_is_non_retryable_and_the_error_never_shows_the_key(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic, key: str
) -> None:
    fake.push(
        Reply(
            status=401,
            error_type="authentication_error",
            error_message=f"invalid x-api-key {key}",
        )
    )

    err = await raised(make_anthropic(key=key).run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderAuthenticationError"
    assert err.non_retryable is True
    assert "invalid x-api-key" in err.message
    assert_key_hidden(err, key)


async def test_prompt_over_the_context_length_is_non_retryable(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    fake.push(
        Reply(
            status=400,
            error_type="invalid_request_error",
            error_message="prompt is too long: 210000 tokens > 200000 maximum",
        )
    )

    err = await raised(make_anthropic().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ContextLengthExceeded"
    assert err.non_retryable is True
    assert "210000 tokens" in err.message


async def test_other_bad_request_is_non_retryable_but_not_a_context_length_error(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    fake.push(
        Reply(
            status=400,
            error_type="invalid_request_error",
            error_message="tools.0.input_schema: JSON schema is invalid",
        )
    )

    err = await raised(make_anthropic().run(CLASSIFIER, classify_request(), MODEL))

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
    fake: FakeLLMServer, make_anthropic: MakeAnthropic, failure: Reply
) -> None:
    fake.push(failure, Reply(output=VALID_CLASSIFICATION))

    await raised(make_anthropic().run(CLASSIFIER, classify_request(), MODEL))

    assert len(fake.calls()) == 1


async def test_unreachable_server_is_a_retryable_connection_error(
    make_anthropic: MakeAnthropic,
) -> None:
    provider = make_anthropic(base_url=f"http://127.0.0.1:{free_port()}")

    err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderConnectionError"
    assert err.non_retryable is False


async def test_stream_that_stalls_ends_in_a_retryable_timeout(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    fake.push(Reply(output=VALID_CLASSIFICATION, stall=True))

    err = await raised(
        make_anthropic(timeout_seconds=0.3).run(CLASSIFIER, classify_request(), MODEL)
    )

    assert err.type == "ProviderTimeout"
    assert err.non_retryable is False


# ---- check() -------------------------------------------------------------------------------------


async def test_check_passes_with_an_accepted_key(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    assert await make_anthropic().check() is None

    [call] = fake.requests
    assert (call.method, call.path.split("?")[0]) == ("GET", "/v1/models")
    assert call.headers["authorization"] == f"Bearer {API_KEY}"


async def test_check_takes_an_alias_for_its_listed_snapshot_and_names_an_unknown_model(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    """The API lists claude-haiku-4-5-20251001; the configuration names claude-haiku-4-5."""
    provider = make_anthropic()
    assert await provider.check(["claude-haiku-4-5", "claude-sonnet-4-5"]) is None
    warning = await provider.check(["claude-haiku-4-5", "claude-haiku-45", "claude-opus-9"])
    assert warning == (
        "anthropic: claude-haiku-45, claude-opus-9 are not among the 7 model(s) it lists for "
        "this key: every call to them will fail unless it takes names it does not list"
    )
    # One page of the API's largest size holds every model.
    assert fake.requests[-1].path == "/v1/models?limit=1000"


async def test_check_stops_on_a_rejected_key_naming_its_environment_variable(
    make_anthropic: MakeAnthropic,
) -> None:
    with pytest.raises(ProviderCheckError) as info:
        await make_anthropic(key=REJECTED_KEY).check()

    message = str(info.value)
    assert "ANTHROPIC_API_KEY" in message
    assert "401" in message
    assert REJECTED_KEY not in message


async def test_check_warns_but_does_not_stop_when_the_server_is_unreachable(
    make_anthropic: MakeAnthropic,
) -> None:
    warning = await make_anthropic(base_url=f"http://127.0.0.1:{free_port()}").check()

    assert isinstance(warning, str)
    assert warning.startswith("anthropic: could not verify the API key")
    assert "cannot reach" in warning


async def test_check_says_the_anthropic_sdk_adds_v1_itself(make_anthropic: MakeAnthropic) -> None:
    # It advised that a compatible server's base URL usually ends in /v1, the opposite of what
    # the anthropic SDK wants (it asked /v1/v1/models), and every ticket failed with a 404.
    import http.server
    import threading

    from tests.providers.test_openai_provider_failures import _NotFoundServerFake

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFoundServerFake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with_v1 = await make_anthropic(base_url=f"{root}/v1").check()
        without = await make_anthropic(base_url=root).check()
    finally:
        server.shutdown()

    assert isinstance(with_v1, str) and with_v1.endswith(
        f"nothing answers at {root}/v1/v1/models: is the base URL right? (the anthropic SDK "
        "adds /v1 itself: leave it off the base URL)"
    ), with_v1
    assert isinstance(without, str) and without.endswith(
        "(an Anthropic-compatible server's base URL goes without /v1)"
    ), without
