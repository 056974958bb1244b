"""A simulated provider with a burst allowance, run against the rate controller's rules: a fake for
testing and tuning policy/adaptive_rate.py without servers (a minute of simulated time takes
about 20 ms). `python -m bench adaptive_limit` is the real thing; this is what lets a change to the
rules be compared over many seeds before it is measured there.

Modelled, each after the real pipeline:
- the provider: a token bucket holding ``burst_seconds`` of its limit (providers enforce their
  limits so: a burst above the limit is answered until the bucket is empty); a call that finds it
  empty is answered 429 with Retry-After ``retry_after``; the others after ``latency`` (+-10%);
- the task queue: dispatches at the rate the controller last set, ``apply_lag`` after the
  decision (the set-rate activity and the server), with a second's worth of burst; a 429's call
  comes back after its Retry-After (the activity's retry; here it goes before the backlog, where
  Temporal queues it behind: the totals are the same); demand never runs out until ``calls``
  have been answered (a backlog far above the limit, as in the benchmark);
- the workers report what ended every ``REPORT_INTERVAL``, and at once for a 429 after
  ``BAD_NEWS_QUIET`` without one (activities/rate_reports.py; ``report_at_once`` False: only on
  the interval, as before); the controller decides at once on a report with 429s, otherwise a
  ``TICK`` after its last decision if a report came meanwhile (its timer:
  workflows/rate_controller.py).
"""

import bisect
import random
from dataclasses import dataclass
from typing import Any

from activities.rate_reports import BAD_NEWS_QUIET, REPORT_INTERVAL
from policy.adaptive_rate import ControllerState, Window, step
from workflows.rate_controller import TICK

STEP_SECONDS = 0.01
COOL_DOWN = 30.0
# A run that has not answered its calls by then (a rule that starves the queue) is an error.
MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class Outcome:
    answered_share: float  # answered calls per second (first answer to last) / the limit
    rate_limited_share: float  # 429s / requests
    decreases: int


def simulate(
    limit: float,
    *,
    seed: int,
    calls: int | None = None,
    start_rate: float = 2.0,
    burst_seconds: float = 1.0,
    latency: float = 0.3,
    retry_after: float = 1.0,
    apply_lag: float = 0.3,
    report_at_once: bool = True,
    refusals_count: bool = False,
    **rules: Any,
) -> Outcome:
    """``calls`` answered in all (default: a minute's worth at the limit); ``refusals_count``: a
    refused call takes its unit from the bucket too, down to ``burst_seconds`` of debt (as
    OpenAI documents for its limits; ``bench adaptive_limit --refusals-count`` is the real
    thing); ``rules``: step()'s keyword arguments (which patched rules apply)."""
    jitter = random.Random(seed)
    wanted = calls if calls is not None else round(limit * 60)
    state = ControllerState(rate=start_rate)
    applied, changes = start_rate, [(0.0, start_rate)]
    queue_tokens, bucket = 1.0, limit * burst_seconds
    fresh, retries, in_flight = wanted, [], []
    answered = rate_limited = 0
    window_answered = window_limited = 0
    reported_answered = reported_limited = 0
    first_answer = last_answer = None
    interval = REPORT_INTERVAL.total_seconds()
    last_decision, next_report = 0.0, interval * jitter.random()
    last_bad_news = -BAD_NEWS_QUIET.total_seconds()
    tick = round(TICK.total_seconds() / STEP_SECONDS)
    steps = 0
    while answered < wanted:
        # Time counted in whole steps: adding STEP_SECONDS up drifts, and a tick of 0.99999 s
        # would wait for the next report.
        now = steps * STEP_SECONDS
        if now > MAX_SECONDS:
            raise RuntimeError(f"{answered} of {wanted} calls answered in {MAX_SECONDS:g} s")
        while changes and changes[0][0] <= now:
            applied = changes.pop(0)[1]
        queue_tokens = min(max(applied, 1.0), queue_tokens + applied * STEP_SECONDS)
        due = bisect.bisect_right(retries, now)
        while queue_tokens >= 1.0 and (fresh or due):
            queue_tokens -= 1.0
            if due:
                retries.pop(0)
                due -= 1
            else:
                fresh -= 1
            if bucket >= 1.0:
                bucket -= 1.0
                in_flight.append(now + latency * (0.9 + 0.2 * jitter.random()))
            else:
                if refusals_count:  # the refusal takes its unit too, down to a burst's debt
                    bucket = max(bucket - 1.0, -limit * burst_seconds)
                rate_limited += 1
                window_limited += 1
                bisect.insort(retries, now + retry_after)
                if report_at_once and now - last_bad_news >= BAD_NEWS_QUIET.total_seconds():
                    next_report = now
                last_bad_news = now
        bucket = min(limit * burst_seconds, bucket + limit * STEP_SECONDS)
        ended = [t for t in in_flight if t <= now]
        if ended:
            in_flight = [t for t in in_flight if t > now]
            answered += len(ended)
            window_answered += len(ended)
            first_answer = now if first_answer is None else first_answer
            last_answer = now
        if now >= next_report:
            next_report = now + interval
            reported_answered += window_answered
            reported_limited += window_limited
            window_answered = window_limited = 0
        waited = now - last_decision
        ticked = steps - round(last_decision / STEP_SECONDS) >= tick
        if reported_limited or (reported_answered and ticked):
            window = Window(
                seconds=waited,
                answered=reported_answered,
                rate_limited=reported_limited,
                retry_after=retry_after if reported_limited else None,
            )
            before = state.queue_rate()
            state = step(state, window, now, COOL_DOWN, **rules)
            if round(state.queue_rate(), 3) != round(before, 3):
                changes.append((now + apply_lag, round(state.queue_rate(), 3)))
            last_decision = now
            reported_answered = reported_limited = 0
        steps += 1
    assert first_answer is not None and last_answer is not None
    return Outcome(
        answered_share=answered / max(last_answer - first_answer, STEP_SECONDS) / limit,
        rate_limited_share=rate_limited / (answered + rate_limited),
        decreases=state.decreases,
    )
