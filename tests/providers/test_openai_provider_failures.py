"""The OpenAI provider's failures against a fake OpenAI server (the real openai SDK over HTTP):
which are retried and after how long, which stop, what the error says; and check()."""

import http.server
import threading
from datetime import timedelta

import pytest

from activities.agent_specs import CLASSIFIER
from activities.providers.errors import ProviderCheckError
from tests.providers.conftest import MODELS, MakeOpenAI
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


MODEL = MODELS["openai"]

# ---- failures ------------------------------------------------------------------------------------


async def test_a_quota_error_a_proxy_wraps_as_a_rate_limit_is_a_spend_limit(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    # LiteLLM puts the HTTP status in the code and the upstream's code in its message: the
    # account's spent quota was a rate limit, retried until the ticket's SLA ran out.
    fake.push(
        Reply(
            status=429,
            error_type="None",
            error_code="429",
            error_message="litellm.RateLimitError: RateLimitError: OpenAIException - You "
            "exceeded your current quota, please check your plan and billing details. "
            "{'code': 'insufficient_quota'}",
        )
    )

    err = await raised(make_openai().run(CLASSIFIER, classify_request(), MODEL))

    assert (err.type, err.non_retryable) == ("ProviderQuotaExceeded", True)


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        pytest.param({"retry-after": "7"}, timedelta(seconds=7), id="retry-after"),
        pytest.param({"retry-after-ms": "2500"}, timedelta(seconds=2.5), id="retry-after-ms"),
    ],
)
async def test_rate_limit_is_retryable_after_the_wait_the_server_asks_for(
    fake: FakeLLMServer, make_openai: MakeOpenAI, headers: dict[str, str], delay: timedelta
) -> None:
    fake.push(
        Reply(
            status=429,
            error_type="requests",
            error_code="rate_limit_exceeded",
            error_message="Rate limit reached for requests",
            headers=headers,
        )
    )

    err = await raised(make_openai().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderRateLimited"
    assert err.non_retryable is False
    assert err.next_retry_delay == delay


@pytest.mark.parametrize("status", [500, 502, 503, 529])
async def test_server_errors_are_retryable(
    fake: FakeLLMServer, make_openai: MakeOpenAI, status: int
) -> None:
    fake.push(Reply(status=status, error_type="server_error", error_message="try again"))

    err = await raised(make_openai().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == ("ProviderOverloaded" if status == 529 else "ProviderUnavailable")
    assert err.non_retryable is False
    assert f"({status})" in err.message


async def test_exhausted_quota_is_not_retried_although_it_comes_as_429(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    fake.push(
        Reply(
            status=429,
            error_type="insufficient_quota",
            error_code="insufficient_quota",
            error_message="You exceeded your current quota, please check your plan.",
        )
    )

    err = await raised(make_openai().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderQuotaExceeded"
    assert err.non_retryable is True


async def test_a_request_larger_than_the_tokens_per_minute_limit_is_not_retried_as_a_429(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    # No wait lets it through: retried as a rate limit, it waited out the ticket's SLA (and
    # cut the provider's rate) before the fallback route got it.
    fake.push(
        Reply(
            status=429,
            error_type="tokens",
            error_code="rate_limit_exceeded",
            error_message="Request too large for gpt-4o in organization org-x on tokens per min "
            "(TPM): Limit 30000, Requested 41000. The input or output tokens must be reduced "
            "in order to run successfully.",
        )
    )

    err = await raised(make_openai().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderRequestTooLarge"
    assert err.non_retryable is True
    assert "lower max_output_tokens" in err.message


@pytest.mark.parametrize("key", [API_KEY, PLAIN_KEY], ids=["sk-key", "plain-key"])
async def test_rejected_key_is_non_retryable_and_the_error_never_shows_the_key(
    fake: FakeLLMServer, make_openai: MakeOpenAI, key: str
) -> None:
    fake.push(
        Reply(
            status=401,
            error_type="invalid_request_error",
            error_code="invalid_api_key",
            error_message=f"Incorrect API key provided: {key}. Find your key in the dashboard.",
        )
    )

    err = await raised(make_openai(key=key).run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderAuthenticationError"
    assert err.non_retryable is True
    assert "Incorrect API key provided" in err.message
    assert_key_hidden(err, key)


async def test_prompt_over_the_context_length_is_non_retryable(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    fake.push(
        Reply(
            status=400,
            error_type="invalid_request_error",
            error_code="context_length_exceeded",
            error_message="This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 210000 tokens.",
        )
    )

    err = await raised(make_openai().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ContextLengthExceeded"
    assert err.non_retryable is True


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(Reply(status=500, error_type="server_error"), id="500"),
        pytest.param(
            Reply(status=429, error_type="requests", headers={"retry-after": "0"}), id="429"
        ),
    ],
)
async def test_sdk_does_not_retry_temporal_retry_policy_does(
    fake: FakeLLMServer, make_openai: MakeOpenAI, failure: Reply
) -> None:
    fake.push(failure, Reply(output=VALID_CLASSIFICATION))

    await raised(make_openai().run(CLASSIFIER, classify_request(), MODEL))

    assert len(fake.calls()) == 1


async def test_unreachable_server_is_a_retryable_connection_error(
    make_openai: MakeOpenAI,
) -> None:
    provider = make_openai(base_url=f"http://127.0.0.1:{free_port()}/v1")

    err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderConnectionError"
    assert err.non_retryable is False


async def test_stream_that_stalls_ends_in_a_retryable_timeout(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    fake.push(Reply(output=VALID_CLASSIFICATION, stall=True))

    err = await raised(make_openai(timeout_seconds=0.3).run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderTimeout"
    assert err.non_retryable is False


# ---- check() -------------------------------------------------------------------------------------


async def test_check_passes_with_an_accepted_key(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    assert await make_openai().check() is None

    [call] = fake.requests
    assert (call.method, call.path) == ("GET", "/v1/models")
    assert call.headers["authorization"] == f"Bearer {API_KEY}"


async def test_check_warns_about_a_route_model_the_provider_does_not_list(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    """A typo in a model's name was found by the first ticket's call."""
    provider = make_openai()
    assert await provider.check(["gpt-4.1-mini", "gpt-4.1"]) is None
    assert await provider.check(["gpt-4.1-mnii", "gpt-4.1"]) == (
        "openai: gpt-4.1-mnii (did you mean gpt-4.1-mini?) is not among the 7 model(s) it lists "
        "for this key: every call to it will fail unless it takes names it does not list"
    )
    fake.models = []  # a server that lists nothing is not judged
    assert await provider.check(["anything"]) is None


async def test_check_stops_on_a_rejected_key_naming_its_environment_variable(
    make_openai: MakeOpenAI,
) -> None:
    with pytest.raises(ProviderCheckError) as info:
        await make_openai(key=REJECTED_KEY).check()

    message = str(info.value)
    assert "OPENAI_API_KEY" in message
    assert "401" in message
    assert REJECTED_KEY not in message


async def test_check_warns_but_does_not_stop_when_the_server_is_unreachable(
    make_openai: MakeOpenAI,
) -> None:
    warning = await make_openai(base_url=f"http://127.0.0.1:{free_port()}/v1").check()

    assert isinstance(warning, str)
    assert warning.startswith("openai: could not verify the API key")
    assert "cannot reach" in warning


class _NotFoundServerFake(http.server.BaseHTTPRequestHandler):
    """A fake server with nothing at any path: what a base URL missing its /v1 reaches."""

    def do_GET(self) -> None:
        body = b'{"error": "not found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


async def test_check_says_a_base_url_without_its_v1_is_the_address_not_the_key(
    make_openai: MakeOpenAI,
) -> None:
    # It said only "could not verify the API key: ... (404)", then every ticket failed with
    # ProviderNotFound.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFoundServerFake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        warning = await make_openai(base_url=root).check()
    finally:
        server.shutdown()

    assert isinstance(warning, str) and "(404)" in warning, warning
    assert warning.endswith(
        f"nothing answers at {root}/models: is the base URL right? (a compatible server's "
        "usually ends in /v1)"
    ), warning
