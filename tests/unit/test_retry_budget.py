"""Which agent-call failures keep retrying: rate limits until the time bound, others five times,
counted per kind across attempts (the count travels in the heartbeat details)."""

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.heartbeat import begin_attempt
from activities.retry_budget import (
    EXHAUSTED_TYPE,
    LAST_ROUTE_FAILURE_ATTEMPTS,
    OTHER_FAILURE_ATTEMPTS,
    OUT_OF_TIME_ATTEMPTS,
    OVERLOADED_BEFORE_HANDING_ON,
    AttemptBudget,
    spend_attempt,
)


def rate_limit() -> ApplicationError:
    return ApplicationError("openai rate limit (429)", type="ProviderRateLimited")


def server_error() -> ApplicationError:
    return ApplicationError("openai unavailable (500)", {"n": 1}, type="ProviderUnavailable")


@pytest.mark.parametrize("failures", [1, OTHER_FAILURE_ATTEMPTS, 50, 5000])
def test_a_rate_limit_stays_retryable_on_every_attempt(failures: int) -> None:
    err = rate_limit()
    assert spend_attempt(err, failures) is err and not err.non_retryable


@pytest.mark.parametrize("failures", [OTHER_FAILURE_ATTEMPTS, 50])
def test_an_overloaded_provider_is_busy_and_waited_for_like_a_rate_limit(failures: int) -> None:
    # An overload spell lasts minutes; five attempts were 15 s, and the ticket failed.
    err = ApplicationError("anthropic overloaded (529)", type="ProviderOverloaded")
    assert spend_attempt(err, failures) is err and not err.non_retryable


def test_a_server_error_is_retried_until_the_fifth_failure_then_given_up() -> None:
    err = server_error()
    assert spend_attempt(err, OTHER_FAILURE_ATTEMPTS - 1) is err
    final = spend_attempt(err, OTHER_FAILURE_ATTEMPTS)
    assert isinstance(final, ApplicationError)
    assert final.non_retryable and final.type == "ProviderUnavailable"
    assert final.details == ({"n": 1},) and "giving up on this route" in final.message


def test_a_chains_last_route_waits_out_a_short_outage_a_route_with_a_fallback_hands_on() -> None:
    # One key, one route per agent: five 502s in 15 s failed every ticket in flight.
    err = server_error()
    with_fallback = AttemptBudget(attempt=OTHER_FAILURE_ATTEMPTS, hands_on=True)
    last = AttemptBudget(attempt=OTHER_FAILURE_ATTEMPTS, hands_on=False)
    handed_on = with_fallback.spend(err)
    kept = last.spend(err)
    assert isinstance(handed_on, ApplicationError) and handed_on.non_retryable
    assert kept is err and not err.non_retryable
    final = AttemptBudget(attempt=LAST_ROUTE_FAILURE_ATTEMPTS, hands_on=False).spend(err)
    assert isinstance(final, ApplicationError) and final.non_retryable
    # An attempt after the budget (a stall that raised nothing) refuses before calling.
    with pytest.raises(ApplicationError, match=f"{LAST_ROUTE_FAILURE_ATTEMPTS} attempts"):
        AttemptBudget(attempt=LAST_ROUTE_FAILURE_ATTEMPTS + 1).refuse_if_spent()
    AttemptBudget(attempt=OTHER_FAILURE_ATTEMPTS + 1).refuse_if_spent()  # the last route goes on


def test_an_unexpected_exception_is_given_up_with_its_type_named() -> None:
    final = spend_attempt(KeyError("x"), OTHER_FAILURE_ATTEMPTS)
    assert isinstance(final, ApplicationError) and final.non_retryable
    assert final.type == "KeyError"


def test_a_non_retryable_error_is_left_as_it_is() -> None:
    err = ApplicationError("bad key", type="ProviderAuthenticationError", non_retryable=True)
    assert spend_attempt(err, OTHER_FAILURE_ATTEMPTS + 1) is err


def attempt_env(number: int, details: list[Any]) -> tuple[ActivityEnvironment, list[tuple]]:
    """Attempt ``number`` of an activity whose earlier attempts' last heartbeat was ``details``."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        attempt=number,
        heartbeat_details=details,
        heartbeat_timeout=timedelta(seconds=20),
    )
    beats: list[tuple] = []
    env.on_heartbeat = lambda *d: beats.append(d)
    return env, beats


def spend_in(env: ActivityEnvironment, err: Exception, hands_on: bool = False) -> Exception:
    async def run() -> Exception:
        begin_attempt()
        return AttemptBudget.of_this_attempt(hands_on=hands_on).spend(err)

    return env.run(run)


def refused_in(env: ActivityEnvironment, hands_on: bool = True) -> ApplicationError | None:
    """``hands_on``: a route with another after it (five failures; the last route has ten)."""

    async def run() -> ApplicationError | None:
        begin_attempt()
        try:
            AttemptBudget.of_this_attempt(hands_on=hands_on).refuse_if_spent()
        except ApplicationError as err:
            return err
        return None

    return env.run(run)


async def test_earlier_rate_limits_do_not_spend_the_budget_of_other_failures() -> None:
    # Attempt 9 after seven 429s and one 500: this 500 is the second other failure, not the ninth.
    env, _ = attempt_env(9, [{"rate_limited": 7}])
    err = server_error()
    assert await spend_in(env, err, hands_on=True) is err
    # ...and after four 500s and seven 429s, the fifth 500 gives the route up.
    env, _ = attempt_env(12, [{"rate_limited": 7}])
    given_up = await spend_in(env, server_error(), hands_on=True)
    assert isinstance(given_up, ApplicationError) and given_up.non_retryable


async def test_a_rate_limit_is_counted_in_the_heartbeat_for_the_next_attempt() -> None:
    env, beats = attempt_env(3, [{"rate_limited": 2, "usage": {"x": 1}}])
    err = rate_limit()
    assert await spend_in(env, err) is err
    assert beats[-1] == ({"rate_limited": 3, "usage": {"x": 1}},), "the usage must travel on too"


async def test_attempts_that_never_raised_count_as_failures_and_end_the_route() -> None:
    # Five earlier attempts, none a 429: each stalled until the heartbeat timeout (nothing was
    # raised, so nothing was counted by the attempt itself). The sixth does not call again.
    env, _ = attempt_env(OTHER_FAILURE_ATTEMPTS + 1, [])
    refused = await refused_in(env)
    assert refused is not None and refused.non_retryable and refused.type == EXHAUSTED_TYPE
    assert f"{OTHER_FAILURE_ATTEMPTS} attempts of this call failed" in refused.message
    # One of them a 429: the call still has an attempt left.
    env, _ = attempt_env(OTHER_FAILURE_ATTEMPTS + 1, [{"rate_limited": 1}])
    assert await refused_in(env) is None


async def test_a_refused_call_still_reports_what_earlier_attempts_were_billed() -> None:
    usage = {"provider": "openai", "model": "m", "input_tokens": 300, "output_tokens": 40}
    env, _ = attempt_env(OTHER_FAILURE_ATTEMPTS + 1, [{"usage": usage}])
    refused = await refused_in(env)
    assert refused is not None and refused.details == (usage,)


def overloaded() -> ApplicationError:
    return ApplicationError("anthropic overloaded (529)", {"u": 1}, type="ProviderOverloaded")


async def test_an_overloaded_provider_hands_a_call_with_a_fallback_on_after_a_few_answers() -> None:
    # Without the adaptive limit's breaker, a call with a healthy fallback waited out the
    # overload until the ticket's SLA ran out (a day for a Medium ticket).
    last = OVERLOADED_BEFORE_HANDING_ON - 1
    env, beats = attempt_env(last + 3, [{"rate_limited": last + 2, "overloaded": last}])
    handed_on = await spend_in(env, overloaded(), hands_on=True)
    assert isinstance(handed_on, ApplicationError) and handed_on.non_retryable
    assert handed_on.type == "ProviderOverloaded" and handed_on.details == ({"u": 1},)
    assert f"{OVERLOADED_BEFORE_HANDING_ON} overloaded answers" in handed_on.message
    assert beats[-1] == ({"rate_limited": last + 3, "overloaded": OVERLOADED_BEFORE_HANDING_ON},)
    # One answer earlier, it still waits; a 429 never counts as overloaded.
    env, _ = attempt_env(last, [{"rate_limited": last - 1, "overloaded": last - 1}])
    assert not (await spend_in(env, overloaded(), hands_on=True)).non_retryable
    env, _ = attempt_env(40, [{"rate_limited": 39, "overloaded": last}])
    assert not (await spend_in(env, rate_limit(), hands_on=True)).non_retryable


async def test_an_overloaded_provider_is_waited_out_by_a_call_with_nowhere_else_to_go() -> None:
    env, _ = attempt_env(50, [{"rate_limited": 49, "overloaded": 49}])
    err = overloaded()
    assert await spend_in(env, err, hands_on=False) is err and not err.non_retryable


def delayed(kind: str, seconds: float) -> ApplicationError:
    return ApplicationError("x", type=kind, next_retry_delay=timedelta(seconds=seconds))


def test_a_short_retry_after_on_a_server_error_never_waits_less_than_the_policy() -> None:
    # "Retry-After: 1" on every 502: the last route's ten attempts were spent in ten seconds, and
    # every ticket in flight failed an outage the attempts are meant to ride out (~4 minutes).
    waits = []
    for attempt in range(1, LAST_ROUTE_FAILURE_ATTEMPTS):
        raised = AttemptBudget(attempt=attempt).spend(delayed("ProviderUnavailable", 1.0))
        assert isinstance(raised, ApplicationError) and not raised.non_retryable
        assert raised.next_retry_delay is not None
        waits.append(raised.next_retry_delay.total_seconds())
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    # A longer one stands.
    long = AttemptBudget(attempt=2).spend(delayed("ProviderUnavailable", 120.0))
    assert isinstance(long, ApplicationError)
    assert long.next_retry_delay == timedelta(seconds=120)


def test_a_tiny_retry_after_on_a_rate_limit_waits_at_least_the_policys_first_interval() -> None:
    # "retry-after-ms: 6" sent a request every 6 ms until the SLA ran out.
    quick = AttemptBudget(attempt=40, rate_limited=39).paced(delayed("ProviderRateLimited", 0.006))
    assert isinstance(quick, ApplicationError) and quick.type == "ProviderRateLimited"
    assert quick.next_retry_delay == timedelta(seconds=1)
    given = delayed("ProviderRateLimited", 5.0)
    assert AttemptBudget(attempt=3).paced(given) is given


async def test_an_answer_out_of_its_attempt_s_time_is_given_up_on_the_third() -> None:
    # Each such attempt takes the whole start-to-close, billed, and the next is as slow: a
    # chain's last route ran ten of them, over 20 minutes (a review, 2026-12-07).
    def out_of_time() -> ApplicationError:
        return ApplicationError(
            "openai: still arriving as the attempt's 120 s ran out", type="ProviderAnswerOutOfTime"
        )

    env, beats = attempt_env(2, [{"out_of_time": 1}])
    kept = await spend_in(env, out_of_time())
    assert isinstance(kept, ApplicationError) and not kept.non_retryable
    assert beats[-1] == ({"out_of_time": 2},)
    env, _ = attempt_env(3, [{"out_of_time": OUT_OF_TIME_ATTEMPTS - 1}])
    given_up = await spend_in(env, out_of_time())
    assert isinstance(given_up, ApplicationError) and given_up.non_retryable
    assert given_up.type == "ProviderAnswerOutOfTime"
    assert f"ran out of its attempt's time {OUT_OF_TIME_ATTEMPTS} times" in given_up.message
