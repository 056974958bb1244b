"""A provider's declared request limit: read from its headers, counted in the reports as the rate
it allows the queue, and used by the adaptive controller's rules (patch "declared-limits")."""

from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.providers.rate_headers import declared_requests_per_second
from activities.rate_reports import OutcomeReporter
from policy.adaptive_rate import (
    ALLOWED_RAISE_TICKS,
    CEILING_SHARE,
    MIN_ALLOWED_RATE,
    PLATEAU_TICKS,
    ControllerState,
    Window,
    step,
)
from shared.rate_control import OutcomeReport

COOL_DOWN = 30.0

# ---- the headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "rate"),
    [
        pytest.param({"x-ratelimit-limit-requests": "600"}, 10.0, id="openai"),
        pytest.param({"X-RateLimit-Limit-Requests": " 30000 "}, 500.0, id="openai-case-space"),
        pytest.param({"anthropic-ratelimit-requests-limit": "50"}, 50 / 60, id="anthropic"),
        pytest.param({"x-ratelimit-limit-requests": "1"}, 1 / 60, id="one-a-minute"),
        pytest.param({"x-ratelimit-limit-requests": "0.5"}, None, id="under-one-a-minute"),
        pytest.param({"x-ratelimit-limit-requests": "0"}, None, id="zero"),
        pytest.param({"x-ratelimit-limit-requests": "-60"}, None, id="negative"),
        pytest.param({"x-ratelimit-limit-requests": "lots"}, None, id="not-a-number"),
        pytest.param({"x-ratelimit-limit-requests": "inf"}, None, id="infinite"),
        pytest.param({"x-ratelimit-limit-requests": "nan"}, None, id="nan"),
        pytest.param({"x-ratelimit-limit-requests": "1e12"}, None, id="unbelievable"),
        pytest.param({"x-ratelimit-limit-requests": "600001"}, None, id="over-10000-a-second"),
        pytest.param({"x-ratelimit-limit-tokens": "600"}, None, id="tokens-only"),
        pytest.param({}, None, id="none"),
        pytest.param(
            {"x-ratelimit-limit-requests": "garbage", "anthropic-ratelimit-requests-limit": "120"},
            2.0,
            id="one-bad-one-good",
        ),
    ],
)
def test_the_declared_limit_is_read_per_minute_and_garbage_is_ignored(
    headers: dict[str, str], rate: float | None
) -> None:
    assert declared_requests_per_second(headers) == (
        pytest.approx(rate) if rate is not None else None
    )


# ---- the reports -------------------------------------------------------------------------------


def reporter(**options: Any) -> OutcomeReporter:
    # record() and declared_report() never talk to Temporal: no client needed.
    return OutcomeReporter(None, "llm-x", "rate-control", 2.0, 30.0, **options)  # type: ignore[arg-type]


def test_a_report_carries_the_lowest_allowed_rate_since_the_last_one() -> None:
    counts = reporter()
    counts.record(None, 10.0)
    counts.record(ApplicationError("429", type="ProviderRateLimited"), 8.0)
    counts.record(None, None)  # an answer that declared nothing does not erase the others
    counts.record(None, -1.0)  # nor does a nonsensical one
    assert counts.pending() == OutcomeReport(
        answered=3, rate_limited=1, allowed_rate=8.0, mode="adaptive", cool_down_seconds=30.0
    )
    merged = OutcomeReport(answered=1).merged(OutcomeReport(answered=1, allowed_rate=5.0))
    assert merged.allowed_rate == 5.0


def test_the_queue_is_allowed_the_headroom_share_of_the_declared_limit() -> None:
    counts = reporter(headroom=0.8)
    counts.record(None, 10.0)
    assert counts.pending().allowed_rate == pytest.approx(8.0)


# ---- the rules ---------------------------------------------------------------------------------


def allowing(rate: float, answered: int = 2, **counts: int) -> Window:
    return Window(seconds=1.0, answered=answered, allowed_rate=rate, **counts)


def test_an_allowed_rate_skips_slow_start_and_is_set_at_once() -> None:
    after = step(ControllerState(rate=2.0), allowing(9.0), 0.0, COOL_DOWN)
    assert after.phase == "steady"
    assert after.rate == 9.0 and after.allowed == 9.0
    # Runs from before the patch ignore it: slow start as before.
    old = step(ControllerState(rate=2.0), allowing(9.0), 0.0, COOL_DOWN, declared_limits=False)
    assert old.phase == "slow_start" and old.rate == 3.0 and old.allowed is None


def test_the_rate_never_probes_above_the_allowed_rate() -> None:
    state = step(ControllerState(rate=2.0), allowing(9.0), 0.0, COOL_DOWN)
    for t in range(1, 5 * PLATEAU_TICKS):
        # The queue uses all it is given and the provider never says no.
        state = step(state, Window(1.0, answered=round(state.rate)), float(t), COOL_DOWN)
        assert state.rate <= 9.0
    assert state.rate == 9.0


def test_a_429_below_the_allowed_rate_still_cuts_and_the_climb_stops_at_it() -> None:
    # Another client of the same key takes part of the limit: the provider says no at 6/s.
    state = step(ControllerState(rate=2.0), allowing(9.0), 0.0, COOL_DOWN)
    cut = step(state, allowing(9.0, answered=6, rate_limited=3), 1.0, COOL_DOWN)
    assert cut.rate < 0.9 * state.rate
    assert cut.ceiling is not None and CEILING_SHARE * cut.ceiling < 9.0
    assert cut.allowed == 9.0  # the same rate allowed again does not start over


def test_a_lower_allowed_rate_caps_at_once_and_keeps_a_deeper_cut() -> None:
    state = step(ControllerState(rate=2.0), allowing(9.0), 0.0, COOL_DOWN)
    lower = step(state, allowing(6.0), 1.0, COOL_DOWN)
    assert lower.rate == 6.0 and lower.allowed == 6.0
    cut = step(lower, allowing(6.0, answered=3, rate_limited=3), 2.0, COOL_DOWN)
    assert cut.rate < 4.0
    after = step(cut, allowing(5.0), 10.0, COOL_DOWN)  # lower again, still above the cut
    assert after.rate == cut.rate and after.allowed == 5.0


def test_a_higher_allowed_rate_takes_over_only_after_it_held_for_a_few_windows() -> None:
    state = step(ControllerState(rate=2.0), allowing(4.0), 0.0, COOL_DOWN)
    # Windows alternate between workers that saw a model with a higher limit and ones that
    # saw the lowest: the rate does not move.
    for t in range(1, 4 * ALLOWED_RAISE_TICKS + 1):  # ends on a window of the lowest
        state = step(state, allowing(20.0 if t % 2 else 4.0, answered=4), float(t), COOL_DOWN)
        assert state.rate == 4.0 and state.allowed == 4.0
    # A raised tier: every window says so.
    now = 100.0
    for t in range(ALLOWED_RAISE_TICKS - 1):
        state = step(state, allowing(20.0, answered=4), now + t, COOL_DOWN)
        assert state.rate == 4.0
    state = step(state, allowing(20.0, answered=4), now + ALLOWED_RAISE_TICKS, COOL_DOWN)
    assert state.rate == 20.0 and state.allowed == 20.0


def test_a_raise_waits_while_a_cut_is_held() -> None:
    state = step(ControllerState(rate=2.0), allowing(4.0), 0.0, COOL_DOWN)
    cut = step(
        state,
        Window(1.0, answered=2, rate_limited=2, retry_after=30.0, allowed_rate=4.0),
        1.0,
        COOL_DOWN,
    )
    for t in range(2, 2 + 2 * ALLOWED_RAISE_TICKS):
        cut = step(cut, allowing(20.0, answered=1), float(t), COOL_DOWN)
    assert cut.allowed == 4.0 and cut.rate < 4.0  # still within the 30 s hold


def test_an_allowed_rate_back_up_after_a_dip_keeps_the_cut_a_429_made() -> None:
    # A limit in tokens moves the allowed rate all the time (tokens a minute over a moving
    # average of tokens a call): a dip and its return counted as a raised tier after five
    # windows and set the rate back to the one that had drawn the 429s.
    state = step(ControllerState(rate=2.0), allowing(10.0), 0.0, COOL_DOWN)
    assert state.rate == 10.0
    cut = step(state, allowing(10.0, answered=4, rate_limited=6), 1.0, COOL_DOWN)
    assert cut.rate < 7.0 and cut.ceiling is not None
    for keeps, expected in ((True, cut.rate), (False, 10.0)):
        after = step(cut, allowing(9.4, answered=6), 2.0, COOL_DOWN, raise_keeps_cuts=keeps)
        for t in range(ALLOWED_RAISE_TICKS):
            after = step(
                after, allowing(10.0, answered=6), 3.0 + t, COOL_DOWN, raise_keeps_cuts=keeps
            )
        assert after.allowed == 10.0
        # Since "raise-keeps-cuts" the cut holds (and may climb by the usual rules, up to the
        # ceiling it learnt); before it, the rate went back to 10 and the ceiling above it.
        assert after.rate == pytest.approx(expected, rel=0.02), keeps
    assert after.ceiling is not None and after.ceiling > 10.0  # the old rules' ceiling


def test_a_tiny_allowed_rate_never_pauses_the_queue() -> None:
    state = step(ControllerState(rate=2.0), allowing(0.0001), 0.0, COOL_DOWN)
    assert round(state.queue_rate(), 3) == MIN_ALLOWED_RATE


def test_the_breaker_opens_over_an_allowed_rate_and_comes_back_to_it() -> None:
    state = step(ControllerState(rate=2.0), allowing(9.0), 0.0, COOL_DOWN)
    opened = step(state, allowing(9.0, answered=1, failed=6), 1.0, COOL_DOWN)
    assert opened.phase == "open" and opened.queue_rate() == 0.0
    probing = step(opened, Window(seconds=1.0), 1.0 + COOL_DOWN, COOL_DOWN)
    closed = step(probing, allowing(9.0, answered=1), 2.0 + COOL_DOWN, COOL_DOWN)
    assert closed.phase == "steady"
    assert closed.queue_rate() == 9.0


# ---- the declared limit alone (adaptive_limit off) ---------------------------------------------


def test_taking_only_the_declared_limit_ignores_429s_and_failures() -> None:
    state = ControllerState(rate=2.0)
    nothing_yet = step(state, Window(1.0, answered=9, rate_limited=5), 0.0, COOL_DOWN, learns=False)
    assert nothing_yet.rate == 2.0 and nothing_yet.allowed is None  # no slow start, no cut
    state = step(state, allowing(9.0), 1.0, COOL_DOWN, learns=False)
    assert state.rate == 9.0
    state = step(state, allowing(9.0, answered=2, rate_limited=6), 2.0, COOL_DOWN, learns=False)
    assert state.rate == 9.0 and state.decreases == 0
    state = step(state, allowing(9.0, answered=1, failed=8), 3.0, COOL_DOWN, learns=False)
    assert state.phase == "steady" and state.queue_rate() == 9.0  # no breaker either


def test_a_controller_configured_away_from_the_adaptive_limit_resumes_a_paused_queue() -> None:
    state = step(ControllerState(rate=5.0, phase="steady"), allowing(9.0), 0.0, COOL_DOWN)
    opened = step(state, Window(1.0, answered=1, failed=8), 1.0, COOL_DOWN)
    assert opened.queue_rate() == 0.0
    resumed = step(opened, allowing(9.0, answered=0), 2.0, COOL_DOWN, learns=False)
    assert resumed.phase == "steady" and resumed.queue_rate() == 9.0


def test_leaving_the_adaptive_limit_restores_the_allowed_rate_after_a_cut() -> None:
    state = step(ControllerState(rate=5.0, phase="steady"), allowing(9.0), 0.0, COOL_DOWN)
    cut = step(state, allowing(9.0, answered=4, rate_limited=4), 1.0, COOL_DOWN)
    assert cut.rate < 9.0
    declared = step(cut, allowing(9.0, answered=4), 2.0, COOL_DOWN, learns=False)
    assert declared.rate == 9.0


def test_leaving_an_open_breaker_with_nothing_declared_resumes_the_queue() -> None:
    """The workflow then removes the queue's rate (nothing declared): the state must not stay
    open, or the queue would stay paused with no calls to report."""
    opened = step(ControllerState(rate=5.0, phase="steady"), Window(1.0, failed=8), 0.0, COOL_DOWN)
    assert opened.phase == "open"
    resumed = step(opened, Window(1.0), 1.0, COOL_DOWN, learns=False)
    assert resumed.phase == "steady" and resumed.allowed is None


def test_reports_from_differently_configured_workers_merge_to_the_adaptive_limit() -> None:
    declared = OutcomeReport(answered=1, mode="declared")
    adaptive = OutcomeReport(answered=1, mode="adaptive")
    assert declared.merged(adaptive).mode == "adaptive"
    assert declared.merged(OutcomeReport(answered=1)).mode == "declared"
    assert OutcomeReport().merged(OutcomeReport()).mode is None


def test_taking_only_declared_limits_the_workers_send_the_allowed_rate_not_every_count() -> None:
    declaring = reporter(mode="declared")
    counts = OutcomeReport(answered=7, mode="declared")
    # Nothing declared: the mode (a controller the adaptive mode left removes its rate), again
    # every minute while calls go out (a rolling deploy's old adaptive reports kept the
    # controller adaptive after a single one, 2026-12-07), nothing without calls.
    assert declaring.declared_report(counts, now=30.0) == counts
    assert declaring.declared_report(counts, now=89.5) is None
    assert declaring.declared_report(OutcomeReport(mode="declared"), now=90.0) is None
    assert declaring.declared_report(counts, now=90.0) == counts
    assert declaring.declared_report(counts, now=99.0) is None
    first = counts.model_copy(update={"allowed_rate": 9.0})
    assert declaring.declared_report(first, now=100.0) == first  # the first one: at once
    assert declaring.declared_report(first, now=101.0) is None  # unchanged: not yet
    nudged = counts.model_copy(update={"allowed_rate": 9.2})
    assert declaring.declared_report(nudged, now=102.0) is None  # within 5%: unchanged
    lower = counts.model_copy(update={"allowed_rate": 6.0})
    assert declaring.declared_report(lower, now=102.5) == lower  # changed: at once
    assert declaring.declared_report(lower, now=107.5) == lower  # again after the refresh
    assert OutcomeReport(allowed_rate=6.0).empty() is False  # wakes the controller
