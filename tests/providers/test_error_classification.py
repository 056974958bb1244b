"""How a provider failure becomes a Temporal ApplicationError: its type, whether a retry can
help, how long the next attempt waits, and that no key survives into the message."""

import dataclasses
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import httpx2
import pytest
from temporalio.exceptions import ApplicationErrorCategory

from activities.providers.errors import (
    MAX_RETRY_AFTER,
    ProviderFailure,
    connection_failed_below,
    retry_after_seconds,
    should_retry_header,
    to_application_error,
)
from activities.providers.structured import with_usage
from shared.agents import Usage


def failure(**fields: object) -> ProviderFailure:
    return ProviderFailure(**({"provider": "openai", "message": "it failed"} | fields))  # type: ignore[arg-type]


RETRYABLE = False
PERMANENT = True

CLASSIFICATION_TABLE = [
    # (failure, expected type, non_retryable, next_retry_delay)
    pytest.param(failure(timeout=True), "ProviderTimeout", RETRYABLE, None, id="timeout"),
    pytest.param(
        failure(connection=True), "ProviderConnectionError", RETRYABLE, None, id="connection"
    ),
    pytest.param(failure(status=408), "ProviderUnavailable", RETRYABLE, None, id="408"),
    pytest.param(failure(status=409), "ProviderUnavailable", RETRYABLE, None, id="409"),
    pytest.param(failure(status=429), "ProviderRateLimited", RETRYABLE, None, id="429"),
    pytest.param(
        failure(status=429, retry_after=7),
        "ProviderRateLimited",
        RETRYABLE,
        timedelta(seconds=7),
        id="429-retry-after-7s",
    ),
    pytest.param(
        failure(status=429, retry_after=1.5),
        "ProviderRateLimited",
        RETRYABLE,
        timedelta(seconds=1.5),
        id="429-retry-after-fractional",
    ),
    pytest.param(
        failure(status=429, retry_after=365 * 24 * 3600),
        "ProviderRateLimited",
        RETRYABLE,
        MAX_RETRY_AFTER,
        id="429-retry-after-a-year-is-capped",
    ),
    pytest.param(failure(status=500), "ProviderUnavailable", RETRYABLE, None, id="500"),
    pytest.param(failure(status=502), "ProviderUnavailable", RETRYABLE, None, id="502"),
    pytest.param(failure(status=503), "ProviderUnavailable", RETRYABLE, None, id="503"),
    pytest.param(
        failure(status=503, retry_after=20),
        "ProviderUnavailable",
        RETRYABLE,
        timedelta(seconds=20),
        id="503-retry-after",
    ),
    pytest.param(failure(status=529), "ProviderOverloaded", RETRYABLE, None, id="529"),
    pytest.param(
        failure(code="overloaded_error"),
        "ProviderOverloaded",
        RETRYABLE,
        None,
        id="overloaded-error-code-without-status",
    ),
    pytest.param(failure(status=400), "ProviderBadRequest", PERMANENT, None, id="400"),
    pytest.param(failure(status=401), "ProviderAuthenticationError", PERMANENT, None, id="401"),
    pytest.param(failure(status=403), "ProviderPermissionDenied", PERMANENT, None, id="403"),
    pytest.param(failure(status=404), "ProviderNotFound", PERMANENT, None, id="404"),
    pytest.param(failure(status=422), "ProviderUnprocessable", PERMANENT, None, id="422"),
    pytest.param(failure(status=418), "ProviderRequestRejected", PERMANENT, None, id="418"),
    pytest.param(
        failure(status=400, code="context_length_exceeded"),
        "ContextLengthExceeded",
        PERMANENT,
        None,
        id="context-length-code",
    ),
    pytest.param(
        failure(
            status=400,
            code="invalid_request_error",
            message="prompt is too long: 210000 tokens > 200000 maximum",
        ),
        "ContextLengthExceeded",
        PERMANENT,
        None,
        id="context-length-anthropic-message",
    ),
    pytest.param(
        failure(
            status=400,
            code="invalid_request_error",
            message="input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000",
        ),
        "ContextLengthExceeded",
        PERMANENT,
        None,
        id="context-limit-anthropic-message",
    ),
    pytest.param(
        failure(status=429, message="Request too large: too many tokens in this prompt"),
        "ProviderRateLimited",
        RETRYABLE,
        None,
        id="429-mentioning-tokens-is-still-a-rate-limit",
    ),
    *[
        pytest.param(
            failure(status=429, code=code),
            "ProviderQuotaExceeded",
            PERMANENT,
            None,
            id=f"spend-limit-{code}",
        )
        for code in (
            "insufficient_quota",
            "billing_hard_limit_reached",
            "enforced_spend_limit_reached",
            "contract_spend_limit_reached",
        )
    ],
    pytest.param(
        # Caps how fast usage may grow: retried after its Retry-After, as the SDK says (it was
        # failed as a spend limit).
        failure(status=429, code="ramp_limit_exceeded", retry_after=20.0),
        "ProviderRateLimited",
        RETRYABLE,
        timedelta(seconds=20),
        id="anthropic-ramp-limit-is-a-rate-limit",
    ),
    pytest.param(
        failure(status=400, code="INSUFFICIENT_QUOTA"),
        "ProviderQuotaExceeded",
        PERMANENT,
        None,
        id="spend-limit-code-any-case",
    ),
]


@pytest.mark.parametrize(("given", "kind", "non_retryable", "delay"), CLASSIFICATION_TABLE)
def test_failure_is_classified_by_type_retryability_and_delay(
    given: ProviderFailure, kind: str, non_retryable: bool, delay: timedelta | None
) -> None:
    err = to_application_error(given)

    assert err.type == kind
    assert err.non_retryable is non_retryable
    assert err.next_retry_delay == delay


@pytest.mark.parametrize(
    ("given", "benign"),
    [
        pytest.param(failure(status=429, retry_after=7), True, id="429"),
        pytest.param(failure(status=500), False, id="500"),
        pytest.param(failure(timeout=True), False, id="timeout"),
        pytest.param(failure(status=401), False, id="401"),
        pytest.param(failure(status=429, should_retry=False), False, id="429-told-not-to-retry"),
    ],
)
def test_only_a_429_that_will_be_retried_is_benign(given: ProviderFailure, benign: bool) -> None:
    """A busy provider is not a failing one: the SDK keeps a benign error out of its warnings
    and failure metrics. A 429 the provider says not to retry ends the route: not benign."""
    err = to_application_error(given)
    expected = ApplicationErrorCategory.BENIGN if benign else ApplicationErrorCategory.UNSPECIFIED
    assert err.category == expected


def test_the_usage_added_to_an_error_keeps_its_category() -> None:
    err = to_application_error(failure(status=429))
    usage = Usage(provider="openai", model="m", input_tokens=10, output_tokens=2)
    assert with_usage(err, usage).category == ApplicationErrorCategory.BENIGN


def test_message_names_the_provider_status_and_provider_message() -> None:
    err = to_application_error(
        ProviderFailure("anthropic", "model not found: claude-x", status=404)
    )

    assert "anthropic" in err.message
    assert "(404)" in err.message
    assert "model not found: claude-x" in err.message


@pytest.mark.parametrize(
    ("header", "delay"),
    # A wait too long to honour is the longest one honoured (not none: the next attempt went
    # straight back to a provider that asked for a long wait); no number at all, none.
    [("1e15", MAX_RETRY_AFTER), ("inf", None), ("nan", None)],
)
def test_absurd_retry_after_header_still_classifies_as_rate_limited(
    header: str, delay: timedelta | None
) -> None:
    waited = retry_after_seconds({"retry-after": header})

    err = to_application_error(failure(status=429, retry_after=waited))

    assert err.type == "ProviderRateLimited"
    assert err.next_retry_delay == delay


# ---- retry_after_seconds ----------------------------------------------------------------------

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        pytest.param({"retry-after-ms": "1500", "retry-after": "30"}, 1.5, id="ms-wins"),
        pytest.param({"retry-after": "7"}, 7.0, id="seconds"),
        pytest.param({"retry-after": "2.5"}, 2.5, id="fractional-seconds"),
        pytest.param({"retry-after-ms": "250"}, 0.25, id="ms-only"),
        pytest.param({"Retry-After": "7"}, 7.0, id="name-capitalised"),
        pytest.param({"RETRY-AFTER-MS": "250", "Retry-After": "9"}, 0.25, id="ms-upper-case"),
        pytest.param({"retry-after-ms": "soon", "retry-after": "5"}, 5.0, id="bad-ms-falls-back"),
        pytest.param({"retry-after": http_date(NOW + timedelta(seconds=30))}, 30.0, id="http-date"),
        pytest.param(
            {"retry-after": http_date(NOW - timedelta(seconds=30))}, 0.0, id="http-date-in-past"
        ),
        pytest.param({"retry-after": "-3"}, 0.0, id="negative-seconds"),
        # A negative one says nothing; it hid a valid retry-after beside it.
        pytest.param({"retry-after-ms": "-100"}, None, id="negative-ms"),
        pytest.param({"retry-after-ms": "-100", "retry-after": "30"}, 30.0, id="negative-ms-hid"),
        # Nor does a zero (the next attempt's delay drops it): it hid the 30 s asked for.
        pytest.param({"retry-after-ms": "0", "retry-after": "30"}, 30.0, id="zero-ms-hid"),
        pytest.param({"retry-after-ms": "0"}, 0.0, id="zero-ms-only"),
        pytest.param({"retry-after": "soon"}, None, id="garbage"),
        pytest.param(
            {"retry-after": "Tue, 14 Nov 99999 08:00:00 GMT"}, None, id="http-date-out-of-range"
        ),
        pytest.param({"content-type": "application/json"}, None, id="no-header"),
        pytest.param({}, None, id="empty"),
        pytest.param(None, None, id="none"),
    ],
)
def test_retry_after_seconds_reads_the_wait_from_headers(
    headers: dict[str, str] | None, seconds: float | None
) -> None:
    assert retry_after_seconds(headers, now=NOW.timestamp()) == seconds


# ---- the provider's own verdict: x-should-retry --------------------------------------------------


@pytest.mark.parametrize(
    ("usual", "header", "non_retryable"),
    [
        pytest.param(failure(status=500), "false", PERMANENT, id="500-told-not-to-retry"),
        pytest.param(failure(status=429, retry_after=7), "false", PERMANENT, id="429-told-not"),
        pytest.param(failure(status=400), "true", RETRYABLE, id="400-told-to-retry"),
        pytest.param(failure(status=409), "true", RETRYABLE, id="409-agrees"),
        pytest.param(failure(status=401), "false", PERMANENT, id="401-agrees"),
        pytest.param(failure(status=500), "maybe", RETRYABLE, id="500-unreadable-header-ignored"),
    ],
)
def test_the_x_should_retry_header_overrides_what_the_status_would_mean(
    usual: ProviderFailure, header: str, non_retryable: bool
) -> None:
    told = dataclasses.replace(usual, should_retry=should_retry_header({"X-Should-Retry": header}))
    err = to_application_error(told)
    assert err.non_retryable is non_retryable
    assert err.type == to_application_error(usual).type  # still says what went wrong
    if non_retryable:
        assert err.next_retry_delay is None


def test_should_retry_header_reads_true_false_and_nothing_else() -> None:
    assert should_retry_header({"x-should-retry": "true"}) is True
    assert should_retry_header({"x-should-retry": " FALSE "}) is False
    assert should_retry_header({"x-should-retry": "1"}) is None
    assert should_retry_header({"retry-after": "1"}) is None
    assert should_retry_header(None) is None


def raised_from(outer: Exception, cause: BaseException | None) -> Exception:
    """``outer`` as ``raise outer from cause`` leaves it."""
    try:
        raise outer from cause
    except Exception as err:
        return err


@pytest.mark.parametrize(
    ("cause", "connection"),
    [
        # What the openai SDK's aiohttp transport raises as ConnectTimeout.
        pytest.param(
            aiohttp.ClientConnectorError(
                aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, False, True, None, None, None),
                ConnectionRefusedError(111, "Connection refused"),
            ),
            True,
            id="refused",
        ),
        pytest.param(aiohttp.ServerDisconnectedError(), True, id="hung-up"),
        # aiohttp's own timeouts stay timeouts.
        pytest.param(aiohttp.ServerTimeoutError("read timed out"), False, id="aiohttp-timeout"),
        pytest.param(aiohttp.SocketTimeoutError("socket timed out"), False, id="socket-timeout"),
        # httpx's transport raises its timeouts with no aiohttp cause.
        pytest.param(None, False, id="httpx-timeout"),
    ],
)
def test_a_timeout_over_a_failed_connection_is_a_connection_failure(
    cause: BaseException | None, connection: bool
) -> None:
    timeout = raised_from(httpx2.ConnectTimeout("timed out"), cause)
    sdk_error = raised_from(RuntimeError("the SDK's APITimeoutError"), timeout)

    assert connection_failed_below(sdk_error) is connection
    assert connection_failed_below(timeout) is connection


def test_a_refused_key_is_named_by_its_variable_or_the_missing_setting() -> None:
    from activities.providers.startup_checks import key_rejected

    assert key_rejected("openai", "OPENAI_API_KEY", 401, "bad key") == (
        "openai: the API key in OPENAI_API_KEY was rejected (401): bad key"
    )
    # It said "the API key in  was rejected": a server configured without a key wants one.
    assert key_rejected("ollama", "", 401, "key required") == (
        "ollama: the server wants an API key (401: key required), and [providers.ollama] names "
        'none (api_key_env = ""): set api_key_env to the variable that holds it'
    )


def test_a_timeout_names_the_setting_that_bounds_it() -> None:
    # It said "openai did not answer in time": a walk-through looked for which limit that was.
    err = to_application_error(failure(timeout=True, message="request timed out"))
    assert err.message == (
        "openai did not answer within its timeout_seconds ([providers.openai]): request timed out"
    )


def test_a_permanent_error_the_provider_says_to_retry_keeps_its_retry_after() -> None:
    # The override took the delay from the permanent error, which never computed one: the retry
    # came after the short backoff, not when the provider said.
    told = failure(status=400, retry_after=30.0, should_retry=True)
    err = to_application_error(told)
    assert err.non_retryable is False and err.next_retry_delay == timedelta(seconds=30)
