"""A provider's declared request limit: read from its headers, counted in the reports, and used
by the adaptive controller's rules (patch "declared-limits")."""

import pytest
from temporalio.exceptions import ApplicationError

from activities.providers.rate_headers import declared_requests_per_second
from activities.rate_reports import OutcomeReporter
from policy.adaptive_rate import (
    CEILING_SHARE,
    DECLARED_SHARE,
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


def test_a_report_carries_the_lowest_limit_declared_since_the_last_one() -> None:
    counts = OutcomeReporter(None, "llm-x", "rate-control", 2.0, 30.0)  # type: ignore[arg-type]
    counts.record(None, 10.0)
    counts.record(ApplicationError("429", type="ProviderRateLimited"), 8.0)
    counts.record(None, None)  # an answer that declared nothing does not erase the others
    counts.record(None, -1.0)  # nor does a nonsensical one
    assert counts.pending() == OutcomeReport(answered=3, rate_limited=1, declared_rate=8.0)
    merged = OutcomeReport(answered=1).merged(OutcomeReport(answered=1, declared_rate=5.0))
    assert merged.declared_rate == 5.0


# ---- the rules ---------------------------------------------------------------------------------


def declared_window(rate: float, answered: int = 2, **counts: int) -> Window:
    return Window(seconds=1.0, answered=answered, declared_rate=rate, **counts)


def test_a_declared_limit_skips_slow_start_and_sets_its_share_at_once() -> None:
    after = step(ControllerState(rate=2.0), declared_window(10.0), 0.0, COOL_DOWN)
    assert after.phase == "steady"
    assert after.rate == pytest.approx(DECLARED_SHARE * 10.0)
    assert after.declared == 10.0
    # Runs from before the patch ignore it: slow start as before.
    old = step(
        ControllerState(rate=2.0), declared_window(10.0), 0.0, COOL_DOWN, declared_limits=False
    )
    assert old.phase == "slow_start" and old.rate == 3.0 and old.declared is None


def test_the_rate_never_probes_above_the_share_of_a_declared_limit() -> None:
    state = step(ControllerState(rate=2.0), declared_window(10.0), 0.0, COOL_DOWN)
    share = DECLARED_SHARE * 10.0
    for t in range(1, 5 * PLATEAU_TICKS):
        # The queue uses all it is given and the provider never says no.
        state = step(state, Window(1.0, answered=round(state.rate)), float(t), COOL_DOWN)
        assert state.rate <= share + 1e-9
    assert state.rate == pytest.approx(share)


def test_a_429_below_the_declared_limit_still_cuts_and_the_climb_stops_at_the_share() -> None:
    # Another client of the same key takes part of the limit: the provider says no at 6/s.
    state = step(ControllerState(rate=2.0), declared_window(10.0), 0.0, COOL_DOWN)
    cut = step(state, declared_window(10.0, answered=6, rate_limited=3), 1.0, COOL_DOWN)
    assert cut.rate < 0.9 * state.rate
    assert cut.ceiling is not None and CEILING_SHARE * cut.ceiling < DECLARED_SHARE * 10.0
    assert cut.declared == 10.0  # the same limit declared again does not start over


def test_a_declared_limit_that_moves_starts_over_from_its_share() -> None:
    state = step(ControllerState(rate=2.0), declared_window(10.0), 0.0, COOL_DOWN)
    state = step(state, declared_window(10.0, answered=6, rate_limited=3), 1.0, COOL_DOWN)
    raised = step(state, declared_window(20.0), 2.0, COOL_DOWN)
    assert raised.rate == pytest.approx(DECLARED_SHARE * 20.0)
    assert raised.declared == 20.0
    nudged = step(raised, declared_window(20.5), 3.0, COOL_DOWN)  # within 5%: not a move
    assert nudged.declared == 20.0


def test_the_breaker_opens_over_a_declared_limit_and_comes_back_to_its_share() -> None:
    state = step(ControllerState(rate=2.0), declared_window(10.0), 0.0, COOL_DOWN)
    opened = step(state, declared_window(10.0, answered=1, failed=6), 1.0, COOL_DOWN)
    assert opened.phase == "open" and opened.queue_rate() == 0.0
    probing = step(opened, Window(seconds=1.0), 1.0 + COOL_DOWN, COOL_DOWN)
    closed = step(probing, declared_window(10.0, answered=1), 2.0 + COOL_DOWN, COOL_DOWN)
    assert closed.phase == "steady"
    assert closed.queue_rate() == pytest.approx(DECLARED_SHARE * 10.0)
