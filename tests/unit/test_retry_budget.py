"""Which agent-call failures keep retrying: rate limits until the time bound, others five times."""

import pytest
from temporalio.exceptions import ApplicationError

from activities.retry_budget import OTHER_FAILURE_ATTEMPTS, spend_attempt


def rate_limit() -> ApplicationError:
    return ApplicationError("openai rate limit (429)", type="ProviderRateLimited")


def server_error() -> ApplicationError:
    return ApplicationError("openai unavailable (500)", {"n": 1}, type="ProviderUnavailable")


@pytest.mark.parametrize("attempt", [1, OTHER_FAILURE_ATTEMPTS, 50, 5000])
def test_a_rate_limit_stays_retryable_on_every_attempt(attempt: int) -> None:
    err = rate_limit()
    assert spend_attempt(err, attempt) is err and not err.non_retryable


def test_a_server_error_is_retried_until_the_fifth_attempt_then_given_up() -> None:
    err = server_error()
    assert spend_attempt(err, OTHER_FAILURE_ATTEMPTS - 1) is err
    final = spend_attempt(err, OTHER_FAILURE_ATTEMPTS)
    assert isinstance(final, ApplicationError)
    assert final.non_retryable and final.type == "ProviderUnavailable"
    assert final.details == ({"n": 1},) and "giving up on this route" in final.message


def test_an_unexpected_exception_is_given_up_with_its_type_named() -> None:
    final = spend_attempt(KeyError("x"), OTHER_FAILURE_ATTEMPTS)
    assert isinstance(final, ApplicationError) and final.non_retryable
    assert final.type == "KeyError"


def test_a_non_retryable_error_is_left_as_it_is() -> None:
    err = ApplicationError("bad key", type="ProviderAuthenticationError", non_retryable=True)
    assert spend_attempt(err, OTHER_FAILURE_ATTEMPTS + 1) is err
