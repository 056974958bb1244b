"""How many attempts an agent call gets for failures other than a rate limit.

The agent activities' retry policy allows any number of attempts, bounded in time by the call's
schedule-to-close timeout (workflows/options.py): a 429 must never fail a ticket while its SLA
still allows waiting, and neither must an "overloaded" answer (529), which says the same: busy.
Every other failure means the provider is unwell rather than busy, and the
fallback route should take over soon: after five such attempts the call gives up on its route
(ten on a chain's last route, which has nowhere to hand on to: about four minutes of backoff).
An overloaded provider (529) is waited out only by a call with nowhere else to go: a call whose
route has another after it (``AgentRoute.hands_on``) hands itself on after
OVERLOADED_BEFORE_HANDING_ON overloaded answers (about a minute of backoff): an overload spell
lasts minutes, and a healthy fallback should not wait for it (without the adaptive limit's
breaker, it waited until the ticket's SLA ran out).

Temporal keeps no count per kind of failure, so the activity keeps its own in the heartbeat
details the server hands to the next attempt: how many earlier attempts ended in a rate limit.
Every other earlier attempt failed some other way, including those that never raised anything
(a stream that stalled until the heartbeat timeout, a worker that died mid-call): those count
too, so a provider that hangs on every request is given up after five attempts, not retried
until the SLA bound. A call that first waited out several 429s keeps its five other attempts.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import carry, earlier
from activities.providers.errors import (
    ANSWER_OUT_OF_TIME_TYPE,
    OVERLOADED_TYPE,
    RATE_LIMITED_TYPE,
)
from workflows.options import AGENT_RETRY

OTHER_FAILURE_ATTEMPTS: Final = 5
# The same for a call whose route is the last of its chain (``hands_on`` false: the default
# setup, one key, one route per agent): nowhere to hand on to, so a provider's blip is waited
# out. Five attempts were 15 s of backoff, and a short burst of 502s failed every ticket in
# flight; ten are about four minutes (backoff 1 s doubling to 60 s), with a hanging provider's
# heartbeat timeouts on top.
LAST_ROUTE_FAILURE_ATTEMPTS: Final = 10
# Overloaded answers after which a call with a route after it hands itself on (backoff 1, 2, 4,
# 8, 16 s between them: about a minute with the calls, or what the provider's Retry-After says).
OVERLOADED_BEFORE_HANDING_ON: Final = 6
EXHAUSTED_TYPE: Final = "ProviderAttemptsExhausted"
# Answers still arriving as their attempt's time ran out (ProviderAnswerOutOfTime) after which a
# call gives up on its route: each such attempt takes the whole start-to-close (about two
# minutes), billed, and the next is as slow; ten of them on a chain's last route were over 20
# minutes before anything else happened (a review, 2026-12-07). The error says what to raise.
OUT_OF_TIME_ATTEMPTS: Final = 3


# A provider that is busy rather than unwell: a rate limit, or an "overloaded" answer.
BUSY_TYPES: Final = frozenset({RATE_LIMITED_TYPE, OVERLOADED_TYPE})


def is_rate_limit(err: Exception) -> bool:
    """Whether ``err`` says the provider is busy (counted with the rate limits: bounded by the
    call's time, not by the five other attempts)."""
    return isinstance(err, ApplicationError) and err.type in BUSY_TYPES


@dataclass(frozen=True)
class AttemptBudget:
    """This attempt's place in the call: its number and how many earlier ones were 429s."""

    attempt: int = 1
    rate_limited: int = 0
    # Of the rate-limited ones, overloaded answers (529); and whether another route follows.
    overloaded: int = 0
    hands_on: bool = False
    # Earlier attempts whose answer ran out of the attempt's time.
    out_of_time: int = 0

    @classmethod
    def of_this_attempt(cls, hands_on: bool = False) -> "AttemptBudget":
        """Read from the activity's info and the details earlier attempts carried (the first
        attempt of a call outside an activity, as in a unit test of one provider)."""
        if not activity.in_activity():
            return cls(hands_on=hands_on)
        counts = [earlier(name) for name in ("rate_limited", "overloaded", "out_of_time")]
        rate_limited, overloaded, out_of_time = (
            c if isinstance(c, int) and c >= 0 else 0 for c in counts
        )
        return cls(activity.info().attempt, rate_limited, overloaded, hands_on, out_of_time)

    @property
    def failure_attempts(self) -> int:
        """Failures other than a rate limit this call's route gets."""
        return OTHER_FAILURE_ATTEMPTS if self.hands_on else LAST_ROUTE_FAILURE_ATTEMPTS

    @property
    def failed_before(self) -> int:
        """Earlier attempts that failed some other way than a rate limit."""
        return max(self.attempt - 1 - self.rate_limited, 0)

    def refuse_if_spent(self) -> None:
        """Before calling: raise when the earlier attempts already spent the budget (they ended
        without raising: a stall cut off by the heartbeat timeout, a worker that died)."""
        if self.failed_before >= self.failure_attempts:
            # Tokens an earlier attempt was billed for travel in the details, as in any failure.
            spent = earlier("usage")
            raise ApplicationError(
                f"{self.failed_before} attempts of this call failed without an answer "
                "(timeouts, answers that stalled past agent_timeouts.heartbeat_seconds, dropped "
                "connections or provider errors): giving up on this route",
                *([spent] if spent is not None else []),
                type=EXHAUSTED_TYPE,
                non_retryable=True,
            )

    def spend(self, err: Exception) -> Exception:
        """What the activity raises for ``err``: a rate limit stays retryable (and is counted
        as one, for the next attempt); another failure is given up once it is the fifth. A
        provider's Retry-After never brings the next attempt sooner than the policy would
        (``paced``)."""
        err = self.paced(err)
        if is_rate_limit(err):
            carry("rate_limited", self.rate_limited + 1)
            if isinstance(err, ApplicationError) and err.type == OVERLOADED_TYPE:
                return self._overloaded(err)
            return err
        if isinstance(err, ApplicationError) and err.type == ANSWER_OUT_OF_TIME_TYPE:
            out_of_time = self.out_of_time + 1
            carry("out_of_time", out_of_time)
            if out_of_time >= OUT_OF_TIME_ATTEMPTS and not err.non_retryable:
                return ApplicationError(
                    f"{err.message} (the answer ran out of its attempt's time {out_of_time} "
                    "times: giving up on this route)",
                    *err.details,
                    type=err.type,
                    non_retryable=True,
                )
        return spend_attempt(err, self.failed_before + 1, self.failure_attempts)

    def paced(self, err: Exception) -> Exception:
        """``err`` with its Retry-After delay raised to what the retry policy would wait: the
        policy's own backoff for a failure that counts against the attempts (a 502 with
        "Retry-After: 1" spent the last route's ten attempts in ten seconds, where they are
        meant to ride out about four minutes), and its initial interval for a busy answer
        (bounded by time, not attempts: "retry-after-ms: 6" sent a request every 6 ms until the
        ticket's SLA ran out). A longer Retry-After stands."""
        if not isinstance(err, ApplicationError) or err.non_retryable:
            return err
        delay = err.next_retry_delay
        if delay is None:
            return err
        floor = AGENT_RETRY.initial_interval if is_rate_limit(err) else policy_backoff(self.attempt)
        if delay >= floor:
            return err
        return ApplicationError(
            err.message,
            *err.details,
            type=err.type,
            non_retryable=False,
            next_retry_delay=floor,
            category=err.category,
        )

    def _overloaded(self, err: ApplicationError) -> ApplicationError:
        overloaded = self.overloaded + 1
        carry("overloaded", overloaded)
        if not self.hands_on or overloaded < OVERLOADED_BEFORE_HANDING_ON:
            return err
        return ApplicationError(
            f"{err.message} ({overloaded} overloaded answers to this call: handing it to the "
            "next route)",
            *err.details,
            type=err.type,
            non_retryable=True,
        )


def policy_backoff(attempt: int) -> timedelta:
    """How long the agent calls' retry policy waits after attempt number ``attempt``."""
    policy = AGENT_RETRY
    assert policy.initial_interval is not None and policy.maximum_interval is not None
    seconds = policy.initial_interval.total_seconds() * policy.backoff_coefficient ** min(
        max(attempt - 1, 0), 32
    )
    return min(timedelta(seconds=seconds), policy.maximum_interval)


def spend_attempt(err: Exception, failures: int, limit: int = OTHER_FAILURE_ATTEMPTS) -> Exception:
    """What the activity raises for ``err``, the ``failures``-th failure of the call that was not
    a rate limit (counting this one), on a route that gets ``limit`` of them."""
    if failures < limit:
        return err
    if is_rate_limit(err):
        return err
    if isinstance(err, ApplicationError):
        if err.non_retryable:
            return err
        return ApplicationError(
            f"{err.message} (failure {failures} of this call: giving up on this route)",
            *err.details,
            type=err.type,
            non_retryable=True,
        )
    return ApplicationError(
        f"{type(err).__name__} (failure {failures} of this call: giving up on this route)",
        type=type(err).__name__,
        non_retryable=True,
    )
