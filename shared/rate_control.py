"""What crosses the boundary of the rate controller workflow: outcome reports from the workers,
its input (carried across continue-as-new) and the rate change it asks an activity to apply."""

from typing import Annotated

from pydantic import BaseModel, Field

from policy.adaptive_rate import ControllerState
from shared.provider_config import RateControl

# A declared limit above this many requests a second is not believed (a header holding garbage,
# or a gateway's "unlimited"): no provider tier comes near it. See
# activities/providers/rate_headers.py.
MAX_DECLARED_PER_SECOND = 10_000.0
# Longest cool-down a configuration may ask for: a provider back after an hour is a new day.
MAX_COOL_DOWN_SECONDS = 3600.0
# A controller run continues as new at least this often (since patch "renewed-runs"), idle or
# not, so no run's history holds payloads older than this: a key retired after the namespace's
# retention plus the longest-open ticket (docs/privacy.md) is never needed to replay one.
RENEW_AFTER_SECONDS = 24 * 3600.0


# More outcomes than one report (a worker's half second) or the reports waiting for one tick
# can hold: a report past it is dropped (the SDK drops a signal that does not decode), and
# merged reports stop counting there. An integer of 400 digits raised OverflowError in the
# controller's rules at every workflow task; 10**17 answered calls kept the breaker closed
# through minutes of failures.
MAX_REPORTED_OUTCOMES = 1_000_000
# A report carries the start times of this many of its failed calls at most (the latest): enough
# for a probe at one call a second to tell its own failures from older calls' (below).
MAX_FAILED_STARTS = 32
StartTime = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class OutcomeReport(BaseModel):
    """One worker's count of agent-call outcomes on a provider queue since its last report."""

    answered: int = Field(default=0, ge=0, le=MAX_REPORTED_OUTCOMES)
    rate_limited: int = Field(default=0, ge=0, le=MAX_REPORTED_OUTCOMES)
    failed: int = Field(default=0, ge=0, le=MAX_REPORTED_OUTCOMES)
    retry_after: float | None = Field(default=None, ge=0)  # longest Retry-After seen, seconds
    # The rate the provider's declared request limit allows the queue, requests per second: the
    # lowest of its models' limits times the provider's rate_limit_headroom (the lowest of the
    # merged reports).
    allowed_rate: float | None = Field(default=None, gt=0, le=MAX_DECLARED_PER_SECOND)
    # How the reporting worker is configured to control the rate (None: a worker from before
    # the modes). The controller follows its workers: configured back to the adaptive limit,
    # or away from it, a running controller changes with the next report.
    mode: RateControl | None = None
    # The reporting worker's breaker_cool_down_seconds (None: a worker from before it was
    # reported). A running controller takes it (patch reported-cool-down): it kept the value it
    # was started with across its runs, and a changed setting never reached it.
    cool_down_seconds: float | None = Field(default=None, gt=0, le=MAX_COOL_DOWN_SECONDS)
    # When the failed calls' attempts began (epoch seconds, the server's clock), the latest
    # MAX_FAILED_STARTS of them, in order: a failure of a call begun before the breaker opened,
    # ending while it probes, says nothing of the provider now (patch probe-fresh-failures).
    # Failures without a start (a worker from before it, more than the list holds) count as new.
    failed_started: list[StartTime] = Field(default_factory=list, max_length=MAX_FAILED_STARTS)

    def empty(self) -> bool:
        # A report with only an allowed rate is news (the declared-only mode sends those).
        return not (
            self.answered or self.rate_limited or self.failed or self.allowed_rate is not None
        )

    def merged(self, other: "OutcomeReport") -> "OutcomeReport":
        waits = [w for w in (self.retry_after, other.retry_after) if w is not None]
        limits = [r for r in (self.allowed_rate, other.allowed_rate) if r is not None]
        return OutcomeReport(
            answered=min(self.answered + other.answered, MAX_REPORTED_OUTCOMES),
            rate_limited=min(self.rate_limited + other.rate_limited, MAX_REPORTED_OUTCOMES),
            failed=min(self.failed + other.failed, MAX_REPORTED_OUTCOMES),
            retry_after=max(waits) if waits else None,
            allowed_rate=min(limits) if limits else None,
            mode=_mode(self.mode, other.mode),
            cool_down_seconds=_cool_down(self.cool_down_seconds, other.cool_down_seconds),
            failed_started=sorted(self.failed_started + other.failed_started)[-MAX_FAILED_STARTS:],
        )


def _cool_down(one: float | None, other: float | None) -> float | None:
    """Workers configured differently: the longest cool-down (the one that rests the provider
    most), not whichever reported last."""
    given = [c for c in (one, other) if c is not None]
    return max(given) if given else None


def _mode(one: RateControl | None, other: RateControl | None) -> RateControl | None:
    """Workers configured differently: the adaptive limit, which also takes declared limits."""
    if "adaptive" in (one, other):
        return "adaptive"
    return one or other


class ControllerInput(BaseModel):
    provider_queue: str
    state: ControllerState
    # How long the breaker keeps an open provider's queue paused before probing it.
    cool_down_seconds: float = Field(default=30.0, gt=0, le=MAX_COOL_DOWN_SECONDS)
    # "declared": only the limit the provider declares sets the rate (no slow start, no cuts on
    # 429s, no breaker), and nothing is set on the queue until it declares one.
    mode: RateControl = "adaptive"
    # Reports that arrived after the last tick of the previous run (continue-as-new).
    pending: OutcomeReport = Field(default_factory=OutcomeReport)
    # Each run continues as new after this long at most (runs since patch "renewed-runs").
    renew_after_seconds: float = Field(default=RENEW_AFTER_SECONDS, gt=0)
    # The previous run's last set of the queue's rate failed: the rate in force is not known,
    # so this run sets its rate as it starts, without waiting for a report (the queue may be
    # paused, and a paused queue sends none). A new run took the state's rate as applied.
    unapplied: bool = False
    # Sets in a row that failed, and when the next may be tried (epoch seconds), once two have
    # (patch unapplied-backoff): the wait kept doubling across runs, not from 1 s in each.
    failed_sets: int = Field(default=0, ge=0)
    retry_at: float | None = None
    # Whether the previous run's last decision learnt (the adaptive mode, or a declared one that
    # adaptive workers still outvoted: mixed-modes-learn), so the rate on the queue is this
    # state's; and when the workers last reported the adaptive mode (epoch seconds). A run
    # continued as new within that minute started from `mode` alone: declared, with nothing
    # declared, it took the queue for one with no rate and never removed the learnt one (a
    # review, 2026-12-08). Left out by runs from before: as before.
    learnt: bool = False
    adaptive_at: float | None = None


class QueueRateChange(BaseModel):
    provider_queue: str
    requests_per_second: float | None = Field(ge=0)  # None: remove the queue's rate
    reason: str
