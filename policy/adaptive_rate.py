"""Finding a provider's undeclared request limit (AIMD), as pure rules; the circuit breaker's
rules, which ``step`` applies first, are in policy/circuit_breaker.py.

The rate controller workflow (workflows/rate_controller.py) feeds one ``Window`` per tick (what
the workers saw since the last tick: answers, 429s with their Retry-After, provider failures) to
``step`` and applies the rate it returns to the provider's task queue. Nothing here imports
Temporal or reads a clock: ``now`` is seconds on the workflow's clock, passed in.

- Slow start: from a low starting rate, grow by half every tick while calls succeed (not
  double: an overshoot of the limit is then at most half of it, and every request above the
  limit until the controller reacts is a 429); the first 429 ends it, back at the last rate
  that drew none.
- The first climb (since patch "fast-first-climb"): slow start's cut lands on the measured
  limit, a moving average of answered calls taken while the rate was still growing by half a
  tick, so it lies behind the limit (8.3-8.5/s against 10/s in ``bench adaptive_limit``).
  From there the rate climbs by the fast step, with no plateau, back to the last
  rate slow start reached without a 429; the plateau and the probes take over above it, and
  the next cut ends the first climb. Before, the climb stopped at the measured limit and the
  probes took about half a minute to find the rest.
- On a 429: the rate drops to what the provider has been answering (the limit, measured: a
  moving average of answered calls per second) and at most ``DECREASE`` of the rate before,
  never below ``MIN_RATE``; the ceiling (below) becomes that measured limit over
  ``CEILING_SHARE`` (never above the rate that drew the 429), so the climb back stops at the
  measured limit; no second decrease until the provider's Retry-After (at least
  ``HOLD_SECONDS``) has passed, because the 429s still arriving then were caused by the rate
  already cut.
- Additive increase: while answers keep coming and the queue uses its rate, add a step: quickly
  up to ``CEILING_SHARE`` of the ``ceiling`` (the measured limit), hold there for a plateau,
  then above it by a step that starts small and grows for two ticks without a 429 (since patch
  "capped-probe-steps"; before, with every tick), so the rate probes for a raised limit without
  sawing through the old one every few seconds. A probe cut
  back near the same ceiling doubles the plateau (up to ``MAX_PLATEAU_TICKS``): a limit that
  stays put is probed less and less often.
- (The first rules, which a controller run from before patch "steady-probes" replays: a ceiling
  up to 10% above the measured limit and at least 15% above the cut, no plateau.)
- A declared limit (since patch "declared-limits"): a provider that says its limit in its
  answers' headers (OpenAI's ``x-ratelimit-limit-requests``, Anthropic's
  ``anthropic-ratelimit-requests-limit``) has the workers report the rate it *allows* the
  queue (the limit times the provider's ``rate_limit_headroom``, as a configured limit gets).
  The first one sets the rate at once, with no slow start, and the rate never goes above it (no
  probing past what the provider says). A 429 below it (another client of the same key) still
  cuts, and the climb back and the probes stop at it. A lower allowed rate applies at once; a
  higher one (a raised tier) only once ``ALLOWED_RAISE_TICKS`` windows in a row said so and no
  cut is being held, so reports from workers that saw different models' limits cannot make the
  rate jump back and forth.
- Gentler probes (since patch "gentle-probes"): a probe climbs by ``GENTLE_SLOW_STEP`` of the
  ceiling a tick, not ``SLOW_STEP``: a provider's burst allowance delays a probe's first 429,
  and a smaller step is less far past the limit by then (fewer 429s; a doubled limit is found
  within two minutes of the first probe, not one: docs/rate-control.md).
- A stray 429 (at most one, or ``STRAY_SHARE`` of the window's answers) while the queue was
  not using its rate (it sent under ``DEMAND_SHARE`` of it, on average and in the window) says
  nothing about the limit: the rate is cut by ``DECREASE`` only, not to the demand (since patch
  "demand-aware-cuts"). Since "stray-cuts-bounded" such cuts far apart (``STRAY_APART_SECONDS``
  after the last cut's hold) do not compound: the ceiling stays (a stray says nothing about the
  limit either) and the rate never goes below ``DECREASE`` of the top of the fast climb
  (``CEILING_SHARE`` of the ceiling) for them; before, an idle queue
  could not climb back between strays (a raise needs ``DEMAND_SHARE`` use of the rate), and
  twenty strays a minute apart took a rate from 50/s to 1.0/s and its ceiling with it.
"""

from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, Field

from policy.circuit_breaker import PROBE_RATE, breaker_step, remembered

# Never set a rate below this while closed: 0 is reserved for the open breaker (0 pauses the
# queue on the server), and a limit this low would starve every ticket anyway.
MIN_RATE: Final = 0.2
# A 429 cuts the rate to at most this share of what it was (multiplicative decrease).
DECREASE: Final = 0.85
# Slow start's growth per tick.
SLOW_START_GROWTH: Final = 1.5
# After a decrease, no other one for this long (or the provider's Retry-After when longer): the
# 429s of calls already in flight say nothing about the new rate.
HOLD_SECONDS: Final = 2.0
# Longest hold taken from a Retry-After header.
MAX_HOLD_SECONDS: Final = 60.0
# Below the ceiling the rate climbs back by this share of the ceiling per tick; above it, by
# the slow share (a limit that was raised is found within a minute or two).
FAST_STEP: Final = 0.05
SLOW_STEP: Final = 0.01
GENTLE_SLOW_STEP: Final = 0.005  # the slow step since "gentle-probes" (the docstring says why)
# The rate rises back quickly only to this share of the ceiling.
CEILING_SHARE: Final = 0.95
# The queue "uses its rate" when it ran at least this share of it in the window: an idle queue
# must not inflate its rate (a burst would then hit the provider unthrottled). The server
# spreads a queue's rate over its partitions, so at low rates the calls come in lumps: slow
# start asks for less.
DEMAND_SHARE: Final = 0.6
SLOW_START_DEMAND_SHARE: Final = 0.25
# Never raise the rate past this multiple of what the queue answered in the window: a rate far
# above the queue's use is no limit at all the moment demand jumps.
USE_HEADROOM: Final = 1.5
# Slow start allows more (its lumps at low rates would otherwise hold it back for many ticks);
# it happens once, at the start, and the first 429 ends it.
SLOW_START_HEADROOM: Final = 2.0
# A window shorter than this (a decision taken at once on a 429) is too short to measure the
# provider's answered rate from.
MIN_MEASURED_SECONDS: Final = 1.0
# ... nor to raise the rate on: a window cut short by failures (decided at once, as a 429 is, for
# the breaker) raised it every half second while a provider failed calls below the breaker's
# share, and probed past its ceiling fastest exactly then (short-windows-hold).
MIN_INCREASE_SECONDS: Final = 0.75
# 429s are stray (a burst, another client of the key) when at most one, or this share of the
# window's answers.
STRAY_SHARE: Final = 0.1
# Since "stray-cuts-bounded", strays this long after the last cut's hold are floored (their cut
# stops near the ceiling, which stays); closer ones cut as before: a limit that fell below a
# quiet queue's demand draws a 429 in window after window, each alone (a 429 ends its window at
# once), and the rate must still come down to it.
STRAY_APART_SECONDS: Final = 10.0
# ... and the rate a window's calls were sent at is measured over at least this long (a report
# covers half a second: workflows/rate_controller.py REPORT_COVERS).
MIN_SENT_SECONDS: Final = 0.5
# Weight of the newest window in the moving average of answered calls per second.
MEASURE_WEIGHT: Final = 0.5
# The ceiling after a 429 is at most this much above the measured limit (the first rules: the
# fast climb then ended ~5% above the limit, and every few seconds drew 429s).
CEILING_ABOVE_MEASURED_V1: Final = 1.1
# ... since "steady-probes": exactly so far above it that the fast climb (to CEILING_SHARE of the
# ceiling) ends at the rate the provider answered when it said no, not above it.
CEILING_ABOVE_MEASURED: Final = 1 / CEILING_SHARE
# Since "steady-probes": at the top of the fast climb the rate holds this many ticks before it
# probes above the ceiling, twice as long each time a probe finds the limit where it was
# (within CONFIRMED_WITHIN), up to MAX_PLATEAU_TICKS. A limit that stays put is then probed
# about once a minute instead of every few seconds, and each probe costs a few 429s; a limit
# that moved resets the plateau.
PLATEAU_TICKS: Final = 4
MAX_PLATEAU_TICKS: Final = 60
CONFIRMED_WITHIN: Final = 0.1
# Confirmations past this do not lengthen the plateau (4 x 2^4 >= 60).
MAX_CONFIRMATIONS: Final = 4
# Since "capped-probe-steps": a probe's step grows for this many ticks, then stays (2% of the
# ceiling a tick). A provider's burst allowance (Anthropic documents its limits as token
# buckets) answers calls above its limit until it is drained, so a probe's first 429 comes
# seconds after the rate passed the limit; a step that kept growing (3%, 4%, ...) was by then
# 20-40% above it, and the 429s until the cut took effect were many. Simulated against a
# provider with a one-second bucket (tests/support/rate_simulation.py, 10/s, medians of 20
# seeds): 429s 2.76% -> 2.12% of requests (worst seed 3.85% -> 2.91%), answered 0.955 either
# way. A raised limit is found at 2% of the ceiling a tick, 1% since "gentle-probes" (doubled:
# within a minute, two since, of the first probe).
MAX_PROBE_STEPS: Final = 2
# ... and (first rules only) at least this much above the rate after the cut, so a cut deeper
# than needed (the measured rate was low because demand was) is recovered at the fast step. It
# also put the ceiling 15% above a cut that landed on the measured limit; since "steady-probes"
# a too-low ceiling is found by the probes above it instead.
CEILING_ABOVE_CUT: Final = 1.15
# Since "declared-limits": an allowed rate within this share of the one in force is the same.
ALLOWED_MOVED: Final = 0.05
# A higher allowed rate (a raised tier) takes over only after this many windows in a row said
# so: a window can hold the reports of some workers only (a 429 is acted on at once), and a
# worker that has not yet called the model with the lowest limit reports a higher one.
ALLOWED_RAISE_TICKS: Final = 5
# An allowed rate is never applied below this (a few requests a day): the applied rate is
# rounded to 3 decimals, and 0 would pause the queue.
MIN_ALLOWED_RATE: Final = 0.001

Phase = Literal["slow_start", "steady", "open", "probing"]


@dataclass(frozen=True)
class Window:
    """What the workers reported for one tick of ``seconds``."""

    seconds: float
    answered: int = 0  # calls the provider answered (good or bad output alike)
    rate_limited: int = 0  # 429s
    failed: int = 0  # 5xx, timeouts, connection errors
    retry_after: float | None = None  # the longest Retry-After among the 429s, seconds
    # The rate the provider's declared limit allows the queue (headers x headroom), requests/s.
    allowed_rate: float | None = None


class ControllerState(BaseModel):
    """The controller's memory; crosses continue-as-new as the workflow's input."""

    rate: float = Field(gt=0)  # the rate in force (before the breaker opened, while open)
    phase: Phase = "slow_start"
    ceiling: float | None = None  # about the rate that last drew a 429
    answered_rate: float = 0.0  # moving average of answered calls per second
    probe_ticks: int = 0  # ticks of increase above the ceiling since the last 429
    # Probes in a row that were cut back near the ceiling they started from (steady-probes).
    confirmations: int = Field(default=0, ge=0)
    # Calls of the last few seconds, fading (the breaker's judgement).
    recent_answered: float = 0.0
    recent_failed: float = 0.0
    hold_until: float = 0.0  # no decrease before this (workflow clock, seconds)
    open_until: float = 0.0  # the breaker's cool-down ends (workflow clock, seconds)
    # When the breaker last opened (workflow clock, seconds; 0: before it was kept): the probe
    # counts failures of calls begun after it (probe-fresh-failures).
    opened_at: float = 0.0
    decreases: int = 0
    openings: int = 0
    # The rate the provider's declared limit allows the queue, requests/s (declared-limits), and
    # the windows in a row that reported a higher one.
    allowed: float | None = Field(default=None, gt=0)
    raise_windows: int = Field(default=0, ge=0)
    # The last rate slow start reached without a 429, while the first climb after its cut is
    # under way (fast-first-climb); None once any later cut came.
    first_climb_to: float | None = Field(default=None, gt=0)
    # When ``step`` last decided (workflow clock, seconds; None before "quiet-spells"): the
    # breaker's memory fades by the time since, not by the window's length, which after a quiet
    # spell (no reports) or a continue-as-new starts half a second before its first report.
    decided_at: float | None = None

    def queue_rate(self) -> float:
        """What the task queue should be set to: 0 while open, the probe rate while probing."""
        if self.phase == "open":
            return 0.0
        if self.phase == "probing":
            return min(PROBE_RATE, self.rate)
        return self.rate


def step(
    state: ControllerState,
    window: Window,
    now: float,
    cool_down: float,
    *,
    steady_probes: bool = True,
    declared_limits: bool = True,
    learns: bool = True,
    capped_probes: bool = True,
    demand_cuts: bool = True,
    gentle_probes: bool = True,
    fast_first_climb: bool = True,
    probe_failure_share: bool = True,
    raise_keeps_cuts: bool = True,
    short_windows_hold: bool = True,
    stray_cuts_bounded: bool = True,
    quiet_spells: bool = True,
) -> ControllerState:
    """The state after one tick's window, at ``now`` (seconds on the workflow clock).

    ``steady_probes`` False is the first version's rules (no plateau, a ceiling up to 10% above
    the measured limit): what a controller run started before them replays with.
    ``declared_limits`` False ignores the limits providers declare (runs from before them);
    ``learns`` False takes only the declared limits: no slow start, no AIMD, no breaker (a
    provider whose queue's rate comes from its headers alone). ``capped_probes`` False lets a
    probe's step grow without end (runs from before "capped-probe-steps"). ``demand_cuts`` False
    cuts to the answered rate even when the queue was not using its rate (runs from before
    "demand-aware-cuts"). ``gentle_probes`` False probes at ``SLOW_STEP`` (runs from before
    "gentle-probes"). ``fast_first_climb`` False stops the climb after slow start's cut at the
    measured limit, as every other climb (runs from before "fast-first-climb").
    ``probe_failure_share`` False reopens the breaker only on a probe window with no answer
    (runs from before "probe-failure-share"); ``raise_keeps_cuts`` False lets an allowed rate
    coming back up after a dip set the rate, a 429's cut lost (runs from before
    "raise-keeps-cuts"); ``short_windows_hold`` False raises the rate on a window of any length
    (runs from before "short-windows-hold"); ``stray_cuts_bounded`` False lets stray 429s on an
    idle queue cut the rate and its ceiling again and again (runs from before
    "stray-cuts-bounded"). ``quiet_spells`` False fades the breaker's memory by the window's
    length, however long nothing was reported before it, and cuts on a 429 to the answered
    rate measured before even when the window itself answered far more (runs from before
    "quiet-spells")."""
    state = remembered(_measured(state, window), window, now if quiet_spells else None)
    rules = _Rules(
        steady_probes,
        capped_probes,
        demand_cuts,
        gentle_probes,
        fast_first_climb,
        probe_failure_share,
        short_windows_hold,
        stray_cuts_bounded,
        quiet_spells,
    )
    if not declared_limits:
        return _step(state, window, now, cool_down, rules)
    state = _allowed(state, window, now, raise_keeps_cuts)
    if not learns:
        # No breaker here (a paused queue resumes), and the rate is the allowed one, not what a
        # cut in the adaptive mode left.
        update: dict[str, object] = {"phase": "steady"}
        if state.allowed is not None:
            update["rate"] = max(state.allowed, MIN_ALLOWED_RATE)
        return state.model_copy(update=update)
    return _capped(_step(state, window, now, cool_down, rules))


@dataclass(frozen=True)
class _Rules:
    """Which version of the rules a controller run follows (its patches)."""

    steady_probes: bool
    capped_probes: bool
    demand_cuts: bool
    gentle_probes: bool
    fast_first_climb: bool
    probe_failure_share: bool
    short_windows_hold: bool = False
    stray_cuts_bounded: bool = False
    quiet_spells: bool = False


def _step(
    state: ControllerState, window: Window, now: float, cool_down: float, rules: _Rules
) -> ControllerState:
    breaker = breaker_step(
        state, window, now, cool_down, probe_failure_share=rules.probe_failure_share
    )
    if breaker is not None:
        return breaker
    if window.rate_limited:
        return _decrease(state, window, now, rules)
    if rules.short_windows_hold and window.seconds < MIN_INCREASE_SECONDS:
        return state  # no 429 in a window too short to judge the rate by: it holds
    if window.answered and _uses_its_rate(state, window):
        used = window.answered / window.seconds
        headroom = SLOW_START_HEADROOM if state.phase == "slow_start" else USE_HEADROOM
        increased = _increased(state, rules)
        rate = max(state.rate, min(increased, used * headroom))
        # The plateau counts from the top of the climb: not the ticks of a first climb, which
        # runs above the ceiling by design (fast-first-climb) and had used the plateau up.
        climbing = state.first_climb_to is not None and state.rate < state.first_climb_to
        above = (
            state.ceiling is not None
            and state.rate >= CEILING_SHARE * state.ceiling
            and not climbing
        )
        return state.model_copy(
            update={"rate": rate, "probe_ticks": state.probe_ticks + 1 if above else 0}
        )
    return state


def _allowed(
    state: ControllerState, window: Window, now: float, raise_keeps_cuts: bool = True
) -> ControllerState:
    """The rate the provider's declared limit allows: the first one, or a higher one that held
    for ``ALLOWED_RAISE_TICKS`` windows, becomes the rate (the breaker's rate to come back to,
    while open or probing); a lower one caps it (``_capped``), a cut below it stays.

    Since "raise-keeps-cuts" a higher one becomes the rate only where the old one held the rate
    at its cap (a raised tier); a rate below it, which a 429 cut, keeps its cut and its ceiling
    and climbs by the usual rules up to the new cap. The allowed rate moves whenever the limit is
    in tokens (tokens a minute over a moving average of tokens a call): a dip and its return
    set the rate back to the one that had drawn the 429s."""
    new = window.allowed_rate
    old = state.allowed
    if new is None:
        return state
    if old is not None and abs(new - old) <= ALLOWED_MOVED * old:
        return state.model_copy(update={"raise_windows": 0})
    if old is not None and new < old:
        ceiling = state.ceiling
        if ceiling is not None:
            ceiling = min(ceiling, new / CEILING_SHARE)
        return state.model_copy(update={"allowed": new, "raise_windows": 0, "ceiling": ceiling})
    if old is not None:
        waited = state.raise_windows + 1
        if waited < ALLOWED_RAISE_TICKS or now < state.hold_until:
            return state.model_copy(update={"raise_windows": waited})
        if raise_keeps_cuts and state.rate < (1 - ALLOWED_MOVED) * old:
            return state.model_copy(update={"allowed": new, "raise_windows": 0})
    rate = max(new, MIN_ALLOWED_RATE)
    update: dict[str, object] = {
        "allowed": new,
        "raise_windows": 0,
        "rate": rate,
        "ceiling": rate / CEILING_SHARE,  # the climb after a cut ends at the allowed rate
    }
    if state.phase not in ("open", "probing"):
        update |= {"phase": "steady", "probe_ticks": 0, "confirmations": 0}
    return state.model_copy(update=update)


def _capped(state: ControllerState) -> ControllerState:
    """Never above the allowed rate: no probing past what the provider says."""
    if state.allowed is None or state.rate <= state.allowed:
        return state
    return state.model_copy(update={"rate": max(state.allowed, MIN_ALLOWED_RATE)})


def _measured(state: ControllerState, window: Window) -> ControllerState:
    if window.seconds < MIN_MEASURED_SECONDS:
        return state
    newest = window.answered / window.seconds
    average = (
        newest
        if not state.answered_rate
        else MEASURE_WEIGHT * newest + (1 - MEASURE_WEIGHT) * state.answered_rate
    )
    return state.model_copy(update={"answered_rate": average})


def _decrease(state: ControllerState, window: Window, now: float, rules: _Rules) -> ControllerState:
    if now < state.hold_until:
        return state
    steady_probes = rules.steady_probes
    measured = state.answered_rate or state.rate
    cut = state.rate / SLOW_START_GROWTH if state.phase == "slow_start" else state.rate * DECREASE
    hold = min(max(HOLD_SECONDS, window.retry_after or 0.0), MAX_HOLD_SECONDS)
    if rules.demand_cuts and state.phase != "slow_start" and _idle(state, window, measured):
        # The queue was not using its rate: what it answered is its demand, not the provider's
        # limit. A stray 429 (a burst, another client of the key) at night cut the rate to the
        # night's demand, and the probes above that ceiling took half an hour to climb back.
        rate = max(MIN_RATE, cut)
        ceiling = max(rate, min(state.rate, state.ceiling or state.rate))
        if rules.stray_cuts_bounded and now >= state.hold_until + STRAY_APART_SECONDS:
            # Nor about the limit: the ceiling stays, and strays far apart do not compound
            # below the floor (the rate already under it stays where it is).
            ceiling = state.ceiling or state.rate
            floor = DECREASE * CEILING_SHARE * ceiling
            rate = max(MIN_RATE, min(state.rate, max(cut, floor)))
        return state.model_copy(
            update={
                "rate": rate,
                "phase": "steady",
                "ceiling": max(rate, ceiling),
                "confirmations": 0,
                "probe_ticks": 0,
                "hold_until": now + hold,
                "decreases": state.decreases + 1,
                "first_climb_to": None,
            }
        )
    if rules.quiet_spells and state.phase != "slow_start":
        # The measure is stale when the window itself answered far more (quiet-spells): a
        # queue that answered 1 call/s all night and draws a 429 in the morning's first
        # burst at 40/s was cut to 1/s, its ceiling with it, and climbed back for an hour.
        answered_now = window.answered / max(window.seconds, MIN_SENT_SECONDS)
        if measured < DEMAND_SHARE * answered_now:
            measured = answered_now
    rate = max(MIN_RATE, min(cut, measured))
    if steady_probes:
        # The measured limit is the best estimate of the provider's: the climb goes back to it
        # and no further until a probe (after the plateau) says there is more.
        ceiling = max(rate, min(state.rate, measured * CEILING_ABOVE_MEASURED))
    else:
        ceiling = max(
            rate * CEILING_ABOVE_CUT, min(state.rate, measured * CEILING_ABOVE_MEASURED_V1)
        )
    # A confirmation is a probe (the rate had climbed past the plateau above the ceiling) that
    # was cut back near that same ceiling. A cut that was not a probe (stray 429s while the
    # queue was not using its rate, a 429 during the climb) says nothing about the limit
    # staying put, and starts counting again.
    confirmed = (
        state.ceiling is not None
        and state.probe_ticks > plateau_ticks(state)
        and abs(ceiling - state.ceiling) <= CONFIRMED_WITHIN * state.ceiling
    )
    confirmations = (
        min(state.confirmations + 1, MAX_CONFIRMATIONS) if confirmed and steady_probes else 0
    )
    return state.model_copy(
        update={
            "rate": rate,
            "phase": "steady",
            "ceiling": ceiling,
            "confirmations": confirmations,
            "probe_ticks": 0,
            "hold_until": now + hold,
            "decreases": state.decreases + 1,
            # Slow start's cut: the climb back may go fast to the last rate that drew no 429
            # (``cut``); any other cut ends that.
            "first_climb_to": (
                cut if rules.fast_first_climb and state.phase == "slow_start" else None
            ),
        }
    )


def _idle(state: ControllerState, window: Window, measured: float) -> bool:
    """Whether the 429 is a stray one while the queue sent well under its rate: few 429s beside
    its answers, and under DEMAND_SHARE of the rate on average and in this window (429s and
    failures count as sent). A provider whose limit fell refuses much of what a queue sends,
    however far below its rate: that cut must still go to what it answers."""
    if window.rate_limited > max(1, STRAY_SHARE * window.answered):
        return False
    sent = window.answered + window.rate_limited + window.failed
    in_window = sent / max(window.seconds, MIN_SENT_SECONDS)
    return max(measured, in_window) < DEMAND_SHARE * state.rate


def _uses_its_rate(state: ControllerState, window: Window) -> bool:
    share = SLOW_START_DEMAND_SHARE if state.phase == "slow_start" else DEMAND_SHARE
    return window.seconds > 0 and window.answered / window.seconds >= share * state.rate


def plateau_ticks(state: ControllerState) -> int:
    """Ticks at the top of the fast climb before probing above the ceiling."""
    return min(PLATEAU_TICKS * 2**state.confirmations, MAX_PLATEAU_TICKS)


def _increased(state: ControllerState, rules: _Rules) -> float:
    if state.phase == "slow_start" or state.ceiling is None:
        return state.rate * SLOW_START_GROWTH
    if state.first_climb_to is not None and state.rate < state.first_climb_to:
        # Through rates slow start already passed without a 429 (fast-first-climb).
        return min(state.rate + FAST_STEP * state.ceiling, state.first_climb_to)
    if state.rate < CEILING_SHARE * state.ceiling:
        return min(state.rate + FAST_STEP * state.ceiling, CEILING_SHARE * state.ceiling)
    # Above it the step grows with every tick without a 429 (gently at first, so the old limit
    # is not sawed through every few seconds), for MAX_PROBE_STEPS ticks (before
    # "capped-probe-steps", without end).
    ticks = state.probe_ticks + 1
    if rules.steady_probes:
        ticks -= plateau_ticks(state)
        if ticks <= 0:
            return state.rate
        if rules.capped_probes:  # part of the plateau rules: the first rules never had it
            ticks = min(ticks, MAX_PROBE_STEPS)
    slow_step = GENTLE_SLOW_STEP if rules.gentle_probes else SLOW_STEP
    return state.rate + slow_step * state.ceiling * ticks
