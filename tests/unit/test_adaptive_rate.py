"""The adaptive limit's rules (AIMD) and the circuit breaker, on their own."""

import pytest

from policy.adaptive_rate import (
    CEILING_SHARE,
    DECREASE,
    MAX_CONFIRMATIONS,
    MAX_PLATEAU_TICKS,
    MIN_RATE,
    PLATEAU_TICKS,
    PROBE_RATE,
    ControllerState,
    Window,
    plateau_ticks,
    step,
)
from policy.circuit_breaker import could_open, new_failures, probe_began_by

COOL_DOWN = 30.0


def run_against(limit: float, ticks: int, start: float = 1.0) -> tuple[ControllerState, int, float]:
    """A simulated provider that answers ``limit`` calls a second and 429s the rest, with a
    queue always full of calls: the rates the controller sets, tick by tick."""
    state = ControllerState(rate=start)
    rate_limited = 0
    answered_total = 0.0
    for t in range(ticks):
        sent = state.queue_rate()
        answered = min(sent, limit)
        over = max(sent - limit, 0.0)
        rate_limited += round(over)
        answered_total += answered
        window = Window(seconds=1.0, answered=round(answered), rate_limited=round(over))
        state = step(state, window, now=float(t), cool_down=COOL_DOWN)
    return state, rate_limited, answered_total


def test_slow_start_grows_the_rate_by_half_while_calls_succeed() -> None:
    state = ControllerState(rate=2.0)
    state = step(state, Window(seconds=1.0, answered=2), now=0.0, cool_down=COOL_DOWN)
    assert state.rate == 3.0
    assert state.phase == "slow_start"


def test_an_idle_queue_does_not_raise_its_rate() -> None:
    state = ControllerState(rate=8.0, phase="steady", ceiling=10.0)
    after = step(state, Window(seconds=1.0, answered=1), now=0.0, cool_down=COOL_DOWN)
    assert after.rate == 8.0


def test_a_429_cuts_the_rate_to_what_the_provider_answered() -> None:
    state = ControllerState(rate=16.0, phase="steady")
    after = step(state, Window(seconds=1.0, answered=10, rate_limited=6), 5.0, COOL_DOWN)
    assert after.rate == 10.0
    # 16/s drew the 429 but the provider answered 10/s: the ceiling is what it answers (the
    # fast climb stops at CEILING_SHARE of the ceiling, so at 10/s).
    assert after.ceiling == pytest.approx(10.0 / CEILING_SHARE)
    # The first rules put it 1.15 times above the new rate (the climb then ended above 10/s).
    first = step(
        state, Window(1.0, answered=10, rate_limited=6), 5.0, COOL_DOWN, steady_probes=False
    )
    assert first.ceiling == pytest.approx(11.5)


def test_a_429_in_a_short_window_cuts_to_the_answered_rate_measured_before() -> None:
    state = ControllerState(rate=8.0)
    for t in range(3):
        state = step(state, Window(seconds=1.0, answered=round(state.rate)), float(t), COOL_DOWN)
    assert state.rate > 20.0  # slow start ran past the provider's 10/s before any 429 came
    state = step(state, Window(seconds=1.0, answered=10), 3.0, COOL_DOWN)
    cut = step(state, Window(seconds=0.3, answered=3, rate_limited=2), 3.3, COOL_DOWN)
    assert cut.rate < 16.0
    assert cut.ceiling is not None and cut.ceiling < 1.2 * cut.rate


def test_the_first_429_ends_slow_start_at_the_last_rate_that_drew_none() -> None:
    state = ControllerState(rate=12.0)
    after = step(state, Window(seconds=1.0, answered=11, rate_limited=1), 5.0, COOL_DOWN)
    assert after.rate == 8.0
    assert after.phase == "steady"


def test_a_429_never_cuts_more_than_the_decrease_share_nor_below_the_floor() -> None:
    state = ControllerState(rate=4.0, phase="steady")
    after = step(state, Window(seconds=1.0, answered=4, rate_limited=1), 0.0, COOL_DOWN)
    assert after.rate == pytest.approx(4.0 * DECREASE)
    low = ControllerState(rate=MIN_RATE, phase="steady")
    assert step(low, Window(seconds=1.0, rate_limited=3), 0.0, COOL_DOWN).rate == MIN_RATE


def test_429s_within_the_retry_after_of_a_cut_do_not_cut_again() -> None:
    state = ControllerState(rate=16.0, phase="steady")
    cut = step(state, Window(1.0, answered=10, rate_limited=6, retry_after=5.0), 0.0, COOL_DOWN)
    again = step(cut, Window(1.0, answered=10, rate_limited=2), 3.0, COOL_DOWN)
    assert again.rate == cut.rate
    later = step(cut, Window(1.0, answered=5, rate_limited=2), 6.0, COOL_DOWN)
    assert later.rate < cut.rate


def test_the_rate_settles_near_an_undeclared_limit_with_few_429s() -> None:
    state, rate_limited, answered = run_against(limit=10.0, ticks=120)
    assert 9.0 <= state.rate <= 11.0
    assert answered / (120 * 10.0) >= 0.9
    assert rate_limited <= 0.02 * answered


def test_a_raised_limit_is_found_again() -> None:
    state = ControllerState(rate=10.0, phase="steady", ceiling=10.5)
    for t in range(60):
        sent = state.queue_rate()
        window = Window(seconds=1.0, answered=round(min(sent, 20.0)))
        state = step(state, window, now=float(t), cool_down=COOL_DOWN)
    assert state.rate > 14.0


def test_a_provider_failing_most_calls_opens_the_breaker_for_the_cool_down() -> None:
    state = ControllerState(rate=10.0, phase="steady")
    opened = step(state, Window(seconds=1.0, answered=1, failed=5), now=100.0, cool_down=30.0)
    assert opened.phase == "open"
    assert opened.queue_rate() == 0.0
    assert step(opened, Window(seconds=1.0), now=120.0, cool_down=30.0).phase == "open"
    probing = step(opened, Window(seconds=1.0), now=130.0, cool_down=30.0)
    assert probing.phase == "probing"
    assert probing.queue_rate() == PROBE_RATE


def test_failures_reported_one_at_a_time_still_open_the_breaker() -> None:
    state = ControllerState(rate=10.0, phase="steady")
    for t in range(5):
        state = step(state, Window(seconds=0.2, failed=1), now=t * 0.2, cool_down=COOL_DOWN)
    assert state.phase == "open"


def test_old_failures_fade_and_do_not_open_the_breaker() -> None:
    state = ControllerState(rate=10.0, phase="steady")
    state = step(state, Window(seconds=1.0, answered=1, failed=2), now=0.0, cool_down=COOL_DOWN)
    state = step(state, Window(seconds=60.0, answered=2, failed=1), now=60.0, cool_down=COOL_DOWN)
    assert state.phase == "steady"


def test_a_probe_that_succeeds_closes_the_breaker_at_the_rate_from_before() -> None:
    probing = ControllerState(rate=10.0, phase="probing")
    closed = step(probing, Window(seconds=1.0, answered=1), now=0.0, cool_down=COOL_DOWN)
    assert closed.phase == "steady"
    assert closed.queue_rate() == 10.0


def test_a_probe_that_fails_opens_the_breaker_again() -> None:
    probing = ControllerState(rate=10.0, phase="probing", openings=1)
    reopened = step(probing, Window(seconds=1.0, failed=1), now=50.0, cool_down=COOL_DOWN)
    assert reopened.phase == "open"
    assert reopened.open_until == 80.0
    assert reopened.openings == 2


def test_a_probe_window_where_most_calls_failed_opens_the_breaker_again() -> None:
    # Calls begun before the breaker opened end during the probe (a provider's timeout outlasts
    # the cool-down): one answer among nine failures closed the breaker at the full rate from
    # before it opened, where the breaker's own rule (half of four or more) says failing.
    probing = ControllerState(rate=50.0, phase="probing", openings=1)
    mixed = Window(seconds=1.0, answered=1, failed=9)
    reopened = step(probing, mixed, now=100.0, cool_down=COOL_DOWN)
    assert reopened.phase == "open" and reopened.queue_rate() == 0.0
    assert reopened.openings == 2
    before = step(probing, mixed, now=100.0, cool_down=COOL_DOWN, probe_failure_share=False)
    assert before.phase == "steady" and before.queue_rate() == 50.0  # the first rule
    # A window mostly answered still closes it.
    mostly = Window(seconds=1.0, answered=3, failed=1)
    assert step(probing, mostly, now=100.0, cool_down=COOL_DOWN).phase == "steady"


def test_a_few_failures_among_many_answers_keep_the_breaker_closed() -> None:
    state = ControllerState(rate=10.0, phase="steady")
    after = step(state, Window(seconds=1.0, answered=9, failed=2), now=0.0, cool_down=COOL_DOWN)
    assert after.phase == "steady"


def test_windows_cut_short_by_failures_hold_the_rate_instead_of_raising_it() -> None:
    # A provider failing a tenth of its calls (under the breaker's share): each worker's
    # report with a failure is decided at once, every half second. Each such window raised the
    # rate (slow start: by half), so the queue climbed fastest while the provider struggled.
    def half_second_windows(**old_rules: bool) -> float:
        state = ControllerState(rate=4.0)
        for t in range(8):
            window = Window(seconds=0.5, answered=2, failed=1)
            state = step(state, window, now=t * 0.5, cool_down=COOL_DOWN, **old_rules)
        return state.rate

    assert half_second_windows() == 4.0
    assert half_second_windows(short_windows_hold=False) >= 6.0  # the old rule raised it
    # A whole tick with failures among its answers still raises it.
    whole = step(ControllerState(rate=4.0), Window(1.0, answered=4, failed=1), 0.0, COOL_DOWN)
    assert whole.rate == 6.0


def test_only_failures_that_could_open_the_breaker_are_acted_on_before_the_tick() -> None:
    # The controller decides at once on them (workflows/rate_controller.py _bad_news); fewer
    # wait for the tick, so a trickle of failures leaves its windows whole.
    quiet = ControllerState(rate=10.0, phase="steady", recent_answered=20.0, recent_failed=2.0)
    assert not could_open(quiet, answered=3, failed=1)
    assert could_open(quiet, answered=0, failed=22)
    assert not could_open(ControllerState(rate=1.0), answered=0, failed=3)  # too few to judge
    assert could_open(ControllerState(rate=1.0), answered=0, failed=4)
    # The breaker's own rule at the next decision agrees on a whole window of them.
    failing = ControllerState(rate=1.0, phase="steady")
    after = step(failing, Window(seconds=1.0, failed=4), now=0.0, cool_down=COOL_DOWN)
    assert after.phase == "open"


def rules(steady_probes: bool) -> dict[str, bool]:
    """The rules a controller ran with: today's, or (``steady_probes`` False) the first ones,
    from before every later patch too."""
    if steady_probes:
        return {}
    later = ("declared_limits", "capped_probes", "demand_cuts", "gentle_probes")
    return {"steady_probes": False} | dict.fromkeys(later, False)


def climb_after_a_cut(steady_probes: bool, ticks: int) -> list[float]:
    """The rates after a cut at a provider answering 10/s, with a queue that uses them all."""
    # 11/s drew the 429: the cut (0.85 of it) lands below the limit, and the rate climbs back.
    state = ControllerState(rate=11.0, phase="steady", answered_rate=10.0)
    state = step(
        state,
        Window(1.0, answered=10, rate_limited=2),
        0.0,
        COOL_DOWN,
        **rules(steady_probes),
    )
    rates = []
    for t in range(1, ticks + 1):
        sent = state.queue_rate()
        window = Window(seconds=1.0, answered=round(min(sent, 10.0)))
        state = step(state, window, float(t), COOL_DOWN, **rules(steady_probes))
        rates.append(state.rate)
    return rates


def test_the_climb_after_a_cut_ends_at_the_limit_the_provider_answered() -> None:
    rates = climb_after_a_cut(steady_probes=True, ticks=6)
    assert rates[0] < rates[1] <= 10.0  # climbing from the cut (9.35/s) ...
    assert rates[2:] == [pytest.approx(10.0)] * 4  # ... to the measured limit, and no further
    # The first rules climbed to 5-10% above it, drawing 429s at once.
    assert max(climb_after_a_cut(steady_probes=False, ticks=6)) > 10.4


def test_at_the_limit_the_rate_holds_before_probing_above_it() -> None:
    rates = climb_after_a_cut(steady_probes=True, ticks=18)
    top = rates.index(pytest.approx(10.0))
    first_above = next(n for n, rate in enumerate(rates) if rate > 10.0 + 1e-9)
    # The tick that reached it, then the plateau's ticks at it, then the probe.
    assert first_above - top == 1 + PLATEAU_TICKS
    # Then it keeps climbing, so a raised limit would be found (half a percent of the ceiling a
    # tick, then 1%, since gentle-probes; 1% then 2% before).
    assert rates[-1] > 11.0


def test_a_limit_found_in_the_same_place_again_is_probed_less_often() -> None:
    state, plateaus = ControllerState(rate=2.0), []
    for t in range(600):
        sent = state.queue_rate()
        over = max(sent - 10.0, 0.0)
        window = Window(1.0, answered=round(min(sent, 10.0)), rate_limited=round(over))
        after = step(state, window, float(t), COOL_DOWN)
        if after.decreases > state.decreases:
            plateaus.append(plateau_ticks(after))
        state = after
    assert len(plateaus) >= 4
    assert plateaus[1:] == sorted(plateaus[1:])  # the first cut ends slow start
    assert plateaus[-1] == MAX_PLATEAU_TICKS
    assert state.confirmations == MAX_CONFIRMATIONS  # counted no further


def test_429s_that_were_not_a_probe_do_not_lengthen_the_plateau() -> None:
    # A queue running well below its ceiling (little demand) that gets stray 429s: each cut
    # lands near the last ceiling, but no probe was under way, so nothing is confirmed.
    state = ControllerState(rate=5.0, phase="steady", ceiling=5.3, answered_rate=5.0)
    for t in range(6):
        state = step(state, Window(3.0, answered=15, rate_limited=1), 10.0 * t, COOL_DOWN)
        state = state.model_copy(update={"rate": 5.0})  # back where demand keeps it
    assert state.confirmations == 0
    assert plateau_ticks(state) == PLATEAU_TICKS


def test_the_first_rules_count_no_confirmations() -> None:
    state = ControllerState(rate=10.0, phase="steady", ceiling=10.5, probe_ticks=10)
    state = state.model_copy(update={"answered_rate": 10.0})
    after = step(
        state, Window(1.0, answered=10, rate_limited=1), 0.0, COOL_DOWN, steady_probes=False
    )
    assert after.confirmations == 0


def test_a_limit_that_moved_resets_the_plateau() -> None:
    state = ControllerState(rate=10.0, phase="steady", ceiling=10.5, confirmations=3)
    state = state.model_copy(update={"answered_rate": 20.0, "rate": 24.0})
    moved = step(state, Window(1.0, answered=20, rate_limited=4), 0.0, COOL_DOWN)
    assert moved.confirmations == 0
    assert plateau_ticks(moved) == PLATEAU_TICKS


def test_the_new_rules_draw_fewer_429s_at_a_steady_limit() -> None:
    def run(steady_probes: bool) -> int:
        state, rate_limited = ControllerState(rate=2.0), 0
        for t in range(300):
            sent = state.queue_rate()
            over = max(sent - 10.0, 0.0)
            rate_limited += round(over)
            window = Window(1.0, answered=round(min(sent, 10.0)), rate_limited=round(over))
            state = step(state, window, float(t), COOL_DOWN, **rules(steady_probes))
        return rate_limited

    assert run(steady_probes=True) < run(steady_probes=False) / 2


def test_a_stray_429_while_the_queue_is_nearly_idle_does_not_cut_the_rate_to_its_demand() -> None:
    # At night the queue answers 1 call/s of its 50/s; one 429 (a burst, another client of the
    # key) cut the rate to 1/s, and probes above that ceiling took half an hour to climb back.
    state = ControllerState(rate=50.0, phase="steady", ceiling=52.6, answered_rate=48.0)
    for t in range(60):
        state = step(state, Window(seconds=1.0, answered=1), float(t), COOL_DOWN)
    stray = Window(seconds=1.0, answered=1, rate_limited=1)

    after = step(state, stray, 60.0, COOL_DOWN)
    before_the_patch = step(state, stray, 60.0, COOL_DOWN, demand_cuts=False)

    assert after.rate == pytest.approx(50.0 * DECREASE)
    assert after.ceiling == pytest.approx(52.6)  # a stray says nothing about the limit
    assert before_the_patch.rate == pytest.approx(1.0, abs=0.01)


def nights_of_strays(**rules: bool) -> tuple[ControllerState, int]:
    """Twenty stray 429s a minute apart on a queue answering 1 call/s of its 50/s, then the
    morning's demand (40/s, the provider answering all of it): the state after the night, and
    the ticks the morning took to reach 40/s (3600: not within the hour)."""
    state = ControllerState(rate=50.0, phase="steady", ceiling=52.6, answered_rate=48.0)
    t = 0.0
    for _ in range(20):
        for _ in range(59):
            state = step(state, Window(seconds=1.0, answered=1), t, COOL_DOWN, **rules)
            t += 1.0
        stray = Window(seconds=1.0, answered=1, rate_limited=1)
        state = step(state, stray, t, COOL_DOWN, **rules)
        t += 1.0
    night = state
    for tick in range(3600):
        if state.queue_rate() >= 40.0:
            return night, tick
        answered = round(min(40.0, state.queue_rate()))
        state = step(state, Window(seconds=1.0, answered=answered), t, COOL_DOWN, **rules)
        t += 1.0
    return night, 3600


def test_stray_429s_on_an_idle_queue_do_not_compound() -> None:
    # A review (2026-12-07) found the demand-aware cut still compounding: each stray cut by 0.85
    # and took the ceiling down with it, the idle queue could not climb back between them, and
    # twenty took the rate to 1/s, and the morning's 40/s was not reached within an hour.
    night, morning_ticks = nights_of_strays()
    assert night.ceiling == pytest.approx(52.6)
    assert night.rate == pytest.approx(DECREASE * CEILING_SHARE * 52.6)
    assert morning_ticks == 0  # 42.5/s: the morning's 40/s runs at once

    before_night, before_morning = nights_of_strays(stray_cuts_bounded=False)
    assert before_night.rate < 2.5 and (before_night.ceiling or 0) < 2.5
    assert before_morning > 600


def test_a_limit_fallen_below_a_quiet_queue_s_demand_is_still_cut_down_to() -> None:
    # A queue sending 2 calls/s of its 50/s to a provider now allowing 0.5/s: each 429 ends its
    # window at once, so every window holds one and looks stray. Strays this close together
    # (a second after the last cut's hold) are cut as before, down to the demand and under.
    state = ControllerState(rate=50.0, phase="steady", ceiling=52.6, answered_rate=2.0)
    t = 0.0
    for _ in range(120):
        state = step(state, Window(seconds=1.0, answered=1, rate_limited=1), t, COOL_DOWN)
        t += 1.0
    assert state.rate < 2.0


def test_a_busy_queue_whose_provider_limit_fell_is_still_cut_to_what_it_answers() -> None:
    # Its answered rate alone looks like low demand; what it sent (most of it drew 429s, in a
    # window of half a second) says it was busy.
    state = ControllerState(rate=50.0, phase="steady", ceiling=52.6, answered_rate=20.0)
    after = step(state, Window(seconds=0.5, answered=10, rate_limited=15), 10.0, COOL_DOWN)
    assert after.rate == pytest.approx(20.0)


def test_a_queue_below_its_rate_whose_provider_limit_fell_is_cut_to_what_it_answers() -> None:
    # Demand at 40% of the rate, then the provider's limit falls under it: many 429s beside the
    # answers are not a stray one, so the cut goes to what the provider answers.
    state = ControllerState(rate=43.0, phase="steady", ceiling=45.0, answered_rate=17.0)
    after = step(state, Window(seconds=1.0, answered=10, rate_limited=8), 10.0, COOL_DOWN)
    assert after.rate == pytest.approx(17.0 * 0.5 + 10.0 * 0.5)


def test_a_probe_counts_the_failures_of_calls_begun_after_the_breaker_opened() -> None:
    # Opened at 100 with a 30 s cool-down: the probe began at 130; a call counts as the probe's
    # from halfway (115), so clocks a few seconds apart still tell the two kinds apart.
    opened = step(
        ControllerState(rate=10.0, phase="steady"),
        Window(seconds=1.0, failed=5),
        now=100.0,
        cool_down=30.0,
    )
    assert (opened.phase, opened.opened_at, opened.open_until) == ("open", 100.0, 130.0)
    since = probe_began_by(opened, cool_down=30.0)
    assert since == 115.0
    # The workers' cool-down raised to 600 s meanwhile: still from the opening it had (before
    # opened_at was kept, the new cool-down put the cut 270 s before the opening).
    assert probe_began_by(opened, cool_down=600.0) == 115.0
    # A state from before opened_at was kept: the opening a cool-down before the end.
    assert probe_began_by(opened.model_copy(update={"opened_at": 0.0}), cool_down=30.0) == 115.0
    assert new_failures(3, [90.0, 99.0, 131.0], since, kept_at_most=32) == 1
    assert new_failures(2, [90.0, 99.0], since, kept_at_most=32) == 0
    # Failures without a start (a worker from before the starts were reported) count as new.
    assert new_failures(3, [90.0], since, kept_at_most=32) == 2
    # Past a full list, the rest began before its first start: old when that one is old...
    assert new_failures(5, [90.0, 131.0, 132.0], since, kept_at_most=3) == 2
    # ... and unknown, so new, when it is new.
    assert new_failures(5, [120.0, 131.0, 132.0], since, kept_at_most=3) == 5
    # A report claiming more starts than failures counts no more than its failures.
    assert new_failures(1, [131.0, 132.0], since, kept_at_most=32) == 1


@pytest.mark.parametrize("quiet_spells", [True, False])
def test_a_429_in_the_morning_s_first_burst_is_not_cut_to_the_night_s_demand(
    quiet_spells: bool,
) -> None:
    """A queue learnt at 50/s answered one call a second all night (its measure followed), then
    the morning's first burst drew two 429s within 0.4 s while answering at 40/s: the cut went
    to the night's 1/s, its ceiling to 1.05/s, and the climb back took an hour (a review,
    2026-12-07). Since "quiet-spells" it goes to what the window answered."""
    state = ControllerState(rate=50.0, phase="steady", ceiling=52.0)
    for t in range(60):  # a quiet minute: one call a second
        state = step(
            state, Window(seconds=1.0, answered=1), float(t), COOL_DOWN, quiet_spells=quiet_spells
        )
    assert state.rate == 50.0 and state.answered_rate < 1.1
    burst = Window(seconds=0.4, answered=20, rate_limited=2)

    state = step(state, burst, 60.4, COOL_DOWN, quiet_spells=quiet_spells)

    if quiet_spells:
        assert state.rate == pytest.approx(40.0)  # 20 in the half second the window counts for
        assert state.ceiling is not None and state.ceiling > 40.0
    else:
        assert state.rate < 1.1 and state.ceiling is not None and state.ceiling < 1.2


@pytest.mark.parametrize("quiet_spells", [True, False])
def test_a_quiet_queue_s_last_failures_are_forgotten_by_the_morning(quiet_spells: bool) -> None:
    """Its last calls of the evening, 3 answered and 2 failed, were remembered whole eight hours
    later (the window after a quiet spell starts half a second before its first report), so
    one failure opened the breaker and paused the queue. Since "quiet-spells" the memory fades
    by the time since the last decision."""
    state = ControllerState(rate=10.0, phase="steady")
    state = step(
        state, Window(seconds=1.0, answered=3, failed=2), 0.0, COOL_DOWN, quiet_spells=quiet_spells
    )
    assert state.phase == "steady"
    morning = 8 * 3600.0

    state = step(
        state, Window(seconds=1.0, failed=1), morning, COOL_DOWN, quiet_spells=quiet_spells
    )

    assert state.phase == ("steady" if quiet_spells else "open")


def test_a_quiet_night_s_last_failures_do_not_cut_the_morning_s_first_window_short() -> None:
    """Whether to decide before the tick (could_open) fades the calls remembered as the decision
    does, given the time (quiet-spells): 3 answers and 2 failures of the evening, then one
    failure eight hours later, no longer end the window at once."""
    evening = step(
        ControllerState(rate=10.0, phase="steady"),
        Window(seconds=1.0, answered=3, failed=2),
        now=0.0,
        cool_down=COOL_DOWN,
    )
    assert evening.decided_at == 0.0
    morning = 8 * 3600.0

    assert not could_open(evening, answered=0, failed=1, now=morning)
    assert could_open(evening, answered=0, failed=1)  # the rule before: taken whole
    assert could_open(evening, answered=0, failed=1, now=0.5)  # half a second later: still there
