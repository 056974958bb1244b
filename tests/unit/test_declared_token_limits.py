"""A provider's declared token limits: read from its headers and turned into the requests a
second they allow, by what each model's requests are counted for (activities/providers/
declared_limits.py)."""

import pytest

from activities.providers.declared_limits import TOKENS_WEIGHT, DeclaredLimits, ModelLimits
from activities.providers.rate_headers import TokenLimits, declared_token_limits
from shared.rate_control import MAX_DECLARED_PER_SECOND


@pytest.mark.parametrize(
    ("headers", "limits"),
    [
        pytest.param(
            {"x-ratelimit-limit-tokens": "200000"}, TokenLimits(total=200000), id="openai"
        ),
        pytest.param({"X-RateLimit-Limit-Tokens": " 30000 "}, TokenLimits(total=30000), id="case"),
        pytest.param(
            {
                "anthropic-ratelimit-input-tokens-limit": "40000",
                "anthropic-ratelimit-output-tokens-limit": "8000",
                "anthropic-ratelimit-tokens-limit": "8000",
            },
            TokenLimits(input=40000, output=8000),
            id="anthropic-input-output",
        ),
        pytest.param(
            {"anthropic-ratelimit-tokens-limit": "8000"},
            TokenLimits(total=8000),
            id="anthropic-most-restrictive-only",
        ),
        pytest.param(
            {
                "anthropic-ratelimit-input-tokens-limit": "many",
                "anthropic-ratelimit-output-tokens-limit": "8000",
            },
            TokenLimits(output=8000),
            id="one-bad-one-good",
        ),
        pytest.param({"x-ratelimit-limit-tokens": "0"}, None, id="zero"),
        pytest.param({"x-ratelimit-limit-tokens": "-5"}, None, id="negative"),
        pytest.param({"x-ratelimit-limit-tokens": "nan"}, None, id="nan"),
        pytest.param({"x-ratelimit-limit-tokens": "inf"}, None, id="infinite"),
        pytest.param({"x-ratelimit-limit-tokens": "1e13"}, None, id="unbelievable"),
        pytest.param({"x-ratelimit-limit-requests": "600"}, None, id="requests-only"),
        pytest.param({}, None, id="none"),
        pytest.param(None, None, id="no-headers"),
    ],
)
def test_token_limits_are_read_per_minute_and_garbage_is_ignored(
    headers: dict[str, str] | None, limits: TokenLimits | None
) -> None:
    assert declared_token_limits(headers) == limits


def test_a_total_token_limit_allows_its_tokens_over_a_requests_count() -> None:
    limits = ModelLimits(tokens=TokenLimits(total=60_000))
    assert limits.rate() is None  # no request answered yet: the count is unknown
    limits.spent(1_500, 500)
    assert limits.rate() == pytest.approx(60_000 / 2_000 / 60)  # 0.5 requests/s


def test_separate_input_and_output_limits_allow_the_lower_of_their_rates() -> None:
    limits = ModelLimits(tokens=TokenLimits(input=120_000, output=6_000))
    limits.spent(1_000, 200)
    # Input allows 2 requests/s, output 0.5.
    assert limits.rate() == pytest.approx(0.5)
    assert limits.token_rate() == pytest.approx(0.5)


def test_the_request_limit_holds_when_it_is_the_lower() -> None:
    limits = ModelLimits(requests_per_second=0.2, tokens=TokenLimits(total=600_000))
    limits.spent(1_000, 0)
    assert limits.rate() == pytest.approx(0.2)
    assert ModelLimits(requests_per_second=3.0).rate() == 3.0  # no token limit declared


def test_tokens_per_request_are_a_moving_average_not_the_last_request() -> None:
    limits = ModelLimits(tokens=TokenLimits(total=60_000))
    limits.spent(1_000, 0)
    limits.spent(11_000, 0)  # one long ticket
    per_request = 1_000 + TOKENS_WEIGHT * 10_000
    assert limits.input_per_request == pytest.approx(per_request)
    assert limits.rate() == pytest.approx(60_000 / per_request / 60)
    for _ in range(60):  # back to short ones: the average comes back
        limits.spent(1_000, 0)
    assert limits.rate() == pytest.approx(1.0, rel=1e-3)


def test_a_token_limit_over_tiny_requests_is_capped_at_the_largest_rate_a_queue_takes() -> None:
    limits = ModelLimits(tokens=TokenLimits(total=1e12))
    limits.spent(1, 0)
    assert limits.rate() == MAX_DECLARED_PER_SECOND


def test_requests_that_count_no_tokens_leave_the_token_limit_out() -> None:
    limits = ModelLimits(tokens=TokenLimits(input=6_000, output=600))
    limits.spent(0, 0)
    assert limits.rate() is None


def test_the_lowest_model_holds_and_a_models_new_headers_replace_its_old_ones() -> None:
    declared = DeclaredLimits()
    assert declared.rate() is None
    declared.headers_seen("small", {"x-ratelimit-limit-requests": "600"})  # 10/s
    declared.headers_seen("large", {"x-ratelimit-limit-tokens": "120000"})
    assert declared.rate() == pytest.approx(10.0)  # large: no request counted yet
    declared.spent("large", 1_000, 1_000)  # 120,000 / 2,000 a minute = 1/s
    assert declared.rate() == pytest.approx(1.0)
    declared.headers_seen("large", {"x-ratelimit-limit-tokens": "1200000"})
    assert declared.rate() == pytest.approx(10.0)  # now small's request limit is the lower
    declared.headers_seen("small", {"content-type": "application/json"})  # says nothing
    assert declared.rate() == pytest.approx(10.0)


def test_a_token_limit_below_one_request_a_minute_is_not_believed() -> None:
    """A limit smaller than one request's count would stop the queue: a misread number."""
    limits = ModelLimits(requests_per_second=5.0, tokens=TokenLimits(total=100))
    limits.spent(1_000, 200)
    assert limits.token_rate() is None
    assert limits.rate() == 5.0
