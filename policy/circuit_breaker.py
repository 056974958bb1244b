"""The rate controller's circuit breaker, as pure rules (policy/adaptive_rate.py ``step`` applies
them; nothing here imports Temporal or reads a clock).

When at least ``BREAKER_MIN_CALLS`` calls ended in the last few seconds (counts fading by half
every ``BREAKER_HALF_LIFE_SECONDS``) and ``BREAKER_FAILURE_SHARE`` of them failed (5xx, timeouts,
connection errors), the queue gets rate 0 (no new calls) for ``cool_down`` seconds; then a probe
rate; a probe window that succeeds closes the breaker at the rate from before, one that fails
opens it again (since "probe-failure-share": one where ``BREAKER_FAILURE_SHARE`` of the ended
calls failed, as the breaker's own rule; before, only one with no answer at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from policy.adaptive_rate import ControllerState, Window

# The breaker needs this many ended calls in a window to judge (one failure of two is noise).
BREAKER_MIN_CALLS: Final = 4
# ... and opens when at least this share of them failed.
BREAKER_FAILURE_SHARE: Final = 0.5
# The breaker's memory of calls fades by half every this many seconds.
BREAKER_HALF_LIFE_SECONDS: Final = 5.0
# While half-open, the queue runs at this rate to test the provider.
PROBE_RATE: Final = 1.0


def provider_failing(state: ControllerState) -> bool:
    """Judged on the last few seconds' calls, not one window's: a window can be a fraction of a
    second (the controller acts on a failure report when it arrives)."""
    ended = state.recent_answered + state.recent_failed
    return ended >= BREAKER_MIN_CALLS and state.recent_failed >= BREAKER_FAILURE_SHARE * ended


def could_open(
    state: ControllerState, answered: int, failed: int, now: float | None = None
) -> bool:
    """Whether the failures reported since the last decision could open the breaker now: the
    last few seconds' calls with the reported ones. The rate controller acts on failures at
    once only then (since "failures-wait-for-the-tick"): a trickle below the breaker's share
    cut every window short, too short to raise the rate or to measure what the provider
    answers. Given ``now`` (since "quiet-spells") the calls remembered fade by the time since
    the last decision, as the decision fades them: a quiet night's last failures no longer cut
    the morning's first window short; without it they are taken whole (a borderline share is
    judged at the tick, at most a second later)."""
    fade = _fade(_since_decided(state, now) or 0.0)
    ended = (state.recent_answered + state.recent_failed) * fade + answered + failed
    failing = state.recent_failed * fade + failed
    return ended >= BREAKER_MIN_CALLS and failing >= BREAKER_FAILURE_SHARE * ended


def remembered(state: ControllerState, window: Window, now: float | None = None) -> ControllerState:
    """The window's ended calls added to the breaker's fading memory. Given ``now`` (since
    "quiet-spells"), the memory fades by the time since the last decision: a window after a
    quiet spell or a continue-as-new is about a second long, and a quiet queue's last calls (3
    answered, 2 failed) were remembered whole eight hours later, so one failure opened it."""
    update: dict[str, float] = {} if now is None else {"decided_at": now}
    fade = _fade(max(window.seconds, _since_decided(state, now) or 0.0))
    update["recent_answered"] = state.recent_answered * fade + window.answered
    update["recent_failed"] = state.recent_failed * fade + window.failed
    return state.model_copy(update=update)


def _since_decided(state: ControllerState, now: float | None) -> float | None:
    """Seconds since ``step`` last decided (quiet-spells), when both are known."""
    if now is None or state.decided_at is None:
        return None
    return max(now - state.decided_at, 0.0)


def _fade(seconds: float) -> float:
    """What is left of the breaker's memory after ``seconds``."""
    return 0.5 ** (seconds / BREAKER_HALF_LIFE_SECONDS)


def forgotten(state: ControllerState) -> ControllerState:
    return state.model_copy(update={"recent_answered": 0.0, "recent_failed": 0.0})


def opened(state: ControllerState, now: float, cool_down: float) -> ControllerState:
    """The breaker open: no new calls until ``now + cool_down``, then probing."""
    return forgotten(
        state.model_copy(
            update={
                "phase": "open",
                "open_until": now + cool_down,
                "opened_at": now,
                "openings": state.openings + 1,
            }
        )
    )


def probe_failed(window: Window, failure_share: bool = True) -> bool:
    """Whether a probe window says the provider still fails. ``failure_share`` False is the
    first rule, no answer at all: calls begun before the breaker opened end during the probe
    (a provider's timeout outlasts the cool-down), and one answer among nine failures closed
    the breaker at the full rate from before it opened."""
    if not window.failed:
        return False
    if not failure_share:
        return not window.answered
    return window.failed >= BREAKER_FAILURE_SHARE * (window.answered + window.failed)


def probe_began_by(state: ControllerState, cool_down: float) -> float:
    """From when (epoch seconds) a call's start makes it the probe's: the probe's calls begin
    after the cool-down ends (``open_until``), the calls from before the breaker opened before
    ``opened_at``. Halfway between, so clocks a few seconds apart tell them apart. A state from
    before ``opened_at`` was kept takes the opening a ``cool_down`` before the end (a cool-down
    the workers changed meanwhile moves it)."""
    opened_at = state.opened_at or state.open_until - cool_down
    return (opened_at + state.open_until) / 2


def new_failures(
    failed: int, failed_started: Sequence[float], since: float, kept_at_most: int
) -> int:
    """How many of a window's ``failed`` calls began at ``since`` or later (patch
    probe-fresh-failures): a call begun before the breaker opened that fails while it probes
    (a provider's timeout outlasts the cool-down) reopened it on its own, one leftover at a time.

    ``failed_started``: the latest starts, at most ``kept_at_most`` of them. A failure
    without one (a worker from before the starts were reported, or one past the list) counts as
    new unless the list is full and begins before ``since``: then it began earlier still."""
    new = sum(1 for started in failed_started if started >= since)
    unknown = max(failed - len(failed_started), 0)
    if len(failed_started) >= kept_at_most and min(failed_started) < since:
        unknown = 0
    return min(new + unknown, failed)


def breaker_step(
    state: ControllerState,
    window: Window,
    now: float,
    cool_down: float,
    *,
    probe_failure_share: bool = True,
) -> ControllerState | None:
    """The state after the window while the breaker is open or probing, or ``None`` when it is
    closed (the rate rules decide)."""
    if state.phase == "open":
        if now < state.open_until:
            return state
        return state.model_copy(update={"phase": "probing"})
    if state.phase == "probing":
        if probe_failed(window, probe_failure_share):
            return opened(state, now, cool_down)
        if window.answered:
            return forgotten(state.model_copy(update={"phase": "steady"}))
        return state
    if provider_failing(state):
        return opened(state, now, cool_down)
    return None
