"""ProviderRateController: one per provider task queue; finds the provider's undeclared request
limit and sets it as the queue's rate on the server, and is the provider's circuit breaker.

Why a workflow: it must be exactly one for all workers (a fixed id per queue; a second worker's
start finds it running), survive worker restarts with what it learnt, and keep time for the
breaker's cool-down. Workers report outcome counts with a signal about twice a second each (not
one per call), so a busy queue adds a handful of history events per second; the run continues as
new every ``TICKS_PER_RUN`` ticks to keep its history short, and at least once a day (so no
run needs a key retired since). With no reports it waits on a condition and that one daily
timer: an idle provider costs a few events a day.

The rules (AIMD, breaker) are policy/adaptive_rate.py; the rate is applied by an activity
(activities/queue_rate.py) because it is a call to the server's task-queue configuration API.
"""

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from policy.adaptive_rate import ControllerState, Window, step
    from policy.circuit_breaker import could_open, new_failures, probe_began_by
    from shared import names
    from shared.rate_control import (
        MAX_FAILED_STARTS,
        ControllerInput,
        OutcomeReport,
        QueueRateChange,
    )
    from workflows.started_input import ABSENT, extra_arguments, signal_problem

# One decision per tick while reports arrive: long enough to count a few calls, short enough to
# react to a 429 before many more are sent.
TICK: Final = timedelta(seconds=1)
# A report covers up to this much time before it arrived (activities/rate_reports.py flushes at
# this interval): the first window after an idle spell starts this far back.
REPORT_COVERS: Final = timedelta(seconds=0.5)
# About 15 events per busy tick (timer, signals, workflow tasks, the rate activity): a few
# thousand events per run, then continue-as-new.
TICKS_PER_RUN: Final = 200
# Setting a queue's rate is one call to the frontend: seconds at most. A failed change is tried
# again on the next tick with the rate of that moment, so a few attempts are enough.
SET_RATE_START_TO_CLOSE: Final = timedelta(seconds=10)
SET_RATE_RETRY: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
# The rules changed: the fast climb after a cut ends at the limit the provider answered, not up
# to 5% above it, and a limit found in the same place again is probed less and less often
# (policy/adaptive_rate.py: plateau). Different rates mean different set-rate activities, so a
# run started under the first rules replays them; every run (continue-as-new too) asks once.
PATCH_STEADY_PROBES: Final = "steady-probes"
# Providers that declare their limit in their headers get a share of it at once and never more
# (policy/adaptive_rate.py): different rates again, so runs from before replay without it.
PATCH_DECLARED_LIMITS: Final = "declared-limits"
# A probe's step above the ceiling stops growing after two ticks (policy/adaptive_rate.py:
# MAX_PROBE_STEPS): different rates once a probe runs that long, so runs from before replay
# without it.
PATCH_CAPPED_PROBES: Final = "capped-probe-steps"
# A 429 while the queue was not using its rate cuts by the decrease share only, not to the
# queue's demand (policy/adaptive_rate.py: _idle): different rates, so runs from before replay
# without it.
PATCH_DEMAND_CUTS: Final = "demand-aware-cuts"
# A probe above the ceiling climbs at 0.5% then 1% of it a tick, not 1% then 2%
# (policy/adaptive_rate.py: gentle-probes): different rates, so runs from before replay without
# it.
PATCH_GENTLE_PROBES: Final = "gentle-probes"
# The climb after slow start's cut goes at the fast step back to slow start's last rate without
# a 429 (policy/adaptive_rate.py).
PATCH_FAST_FIRST_CLIMB: Final = "fast-first-climb"
# A probe window where half the ended calls failed opens the breaker again, not only one with no
# answer (policy/circuit_breaker.py probe_failed): different rates, so runs from before replay
# without it.
PATCH_PROBE_FAILURE_SHARE: Final = "probe-failure-share"
# An allowed rate coming back up after a dip keeps a 429's cut below it (policy/adaptive_rate.py
# _allowed): different rates, so runs from before replay without it.
PATCH_RAISE_KEEPS_CUTS: Final = "raise-keeps-cuts"
# A window without a 429 shorter than most of a tick (decided at once on failures, for the
# breaker) holds the rate instead of raising it (policy/adaptive_rate.py MIN_INCREASE_SECONDS):
# different rates, so runs from before replay without it.
PATCH_SHORT_WINDOWS_HOLD: Final = "short-windows-hold"
# A run continues as new once it is ``renew_after_seconds`` old (a day by default), idle or not:
# an idle controller waited on a condition for as long as its provider stayed idle, months
# perhaps, and its history (its start input, its reports) stayed encrypted with the key of its
# day, needed again at the next replay after that key was retired. One timer per run.
PATCH_RENEWED_RUNS: Final = "renewed-runs"
# A rate the controller failed to set (its three attempts spent, say during a frontend restart)
# is set again on the next tick even when no report comes: the queue may be paused (the breaker
# was open), and a paused queue dispatches no call, so no report would ever come and the queue
# stayed paused for good. Asked only after a set failed.
PATCH_RETRY_UNAPPLIED: Final = "retry-unapplied-rate"
# The breaker's cool-down is the one the workers report (their breaker_cool_down_seconds): a
# running controller kept the value it was started with across all its runs, so a changed
# setting never reached it. Asked only when a report says another than the one in force.
PATCH_REPORTED_COOL_DOWN: Final = "reported-cool-down"
# A tick without reports (the breaker's cool-down ending, a retry of a failed set) follows the
# mode the workers last reported, not the one the controller was first started with: switched
# to the adaptive limit, the end of a cool-down removed the queue's rate instead of probing,
# and a failing provider's queue ran unlimited. Asked only when the two differ. The mode also
# crosses continue-as-new now.
PATCH_REPORTED_MODE_KEPT: Final = "reported-mode-kept"
# A set that failed again is tried after a wait that doubles (2 s, 4 s, ... 5 min), not at every
# tick and report: a server that refuses to set task-queue rates (an older one, or a worker
# identity without the permission) had a failed set activity every second, for good. Asked
# only from the second failure in a row, so a set that fails once is tried again as before.
PATCH_UNAPPLIED_BACKOFF: Final = "unapplied-backoff"
UNAPPLIED_MAX_WAIT: Final = timedelta(minutes=5)
# Stray 429s on a nearly idle queue no longer compound: the ceiling stays and the rate stops at
# a floor near it (policy/adaptive_rate.py stray_cuts_bounded): different rates, so runs from
# before replay without it. Asked once per run.
PATCH_STRAY_CUTS_BOUNDED: Final = "stray-cuts-bounded"
# Failures end the tick's window at once only when they could open the breaker
# (policy/circuit_breaker.py could_open); fewer wait for the tick as answers do: a trickle of
# failures below the breaker's share kept every window too short to raise the rate or measure
# the provider, so a raised limit was never found. Different decisions, so runs from before
# replay without it. Asked once per run.
PATCH_FAILURES_WAIT: Final = "failures-wait-for-the-tick"
# A failed set leaves the queue's rate unknown, so the next wanted rate is set whatever it is:
# a pause (rate 0) that reached the server but whose answer was lost was not undone when the
# controller wanted the old rate back (it believed it in force), until the run continued as new
# (~200 ticks); and a failed set is retried while the breaker is open (it waited for the end of
# the cool-down, the queue still dispatching to the failing provider). Asked once per run.
PATCH_FAILED_SETS_RETRIED: Final = "failed-sets-retried"
# A probe is judged on the calls it sent: a failure of a call begun before the breaker opened,
# ending during the probe, no longer opens it again (policy/circuit_breaker.py new_failures).
# Different rates, so asked only for a probe window holding such a failure.
PATCH_PROBE_FRESH_FAILURES: Final = "probe-fresh-failures"
# After a quiet spell: the breaker's memory fades by the time since the last decision, and a
# 429's cut goes to what the window itself answered when that is far above the measure
# (policy/adaptive_rate.py). Asked once per run, as stray-cuts-bounded.
PATCH_QUIET_SPELLS: Final = "quiet-spells"
# Workers of one queue in both modes (a rolling deploy between declared_limit and
# adaptive_limit): the adaptive mode wins for ADAPTIVE_KEPT after its last report, as it wins
# within one window's reports. Decided window by window, a window of declared-only reports took
# the queue's rate away (none declared yet: unlimited dispatch to the provider) until the next
# adaptive one set it back. Asked once per run.
PATCH_MIXED_MODES: Final = "mixed-modes-learn"
ADAPTIVE_KEPT: Final = timedelta(seconds=60)
# A rate that could not be applied when it was wanted (a set failed, the frontend restarting).
UNKNOWN_RATE: Final = -1.0


def _seconds(moment: timedelta) -> float:
    return moment.total_seconds()


def _next_try(failed_sets: int) -> datetime:
    """When a set that failed ``failed_sets`` times in a row may be tried again: a tick after
    the first failure, then a wait that doubles up to UNAPPLIED_MAX_WAIT."""
    return workflow.now() + min(TICK * 2 ** min(failed_sets - 1, 16), UNAPPLIED_MAX_WAIT)


def _retry_wait(failed_sets: int, retry_at: datetime) -> timedelta:
    """How long before a failed set is tried again: a tick, or until ``retry_at`` once sets
    back off (unapplied-backoff, asked only from the second failure in a row)."""
    backing_off = failed_sets > 1 and workflow.patched(PATCH_UNAPPLIED_BACKOFF)
    return max(retry_at - workflow.now(), TICK) if backing_off else TICK


@workflow.defn(name=names.RATE_CONTROLLER_WORKFLOW)
class ProviderRateController:
    @workflow.init
    def __init__(self, start: ControllerInput) -> None:
        self._state = start.state
        self._pending = start.pending
        self._renew = False  # this run is old enough to continue as new (renewed-runs)
        self._renewal: asyncio.Task[None] | None = None
        self._failures_wait = False  # failures-wait-for-the-tick, asked at the run's start
        self._quiet_spells = False  # quiet-spells, asked at the run's start

    @workflow.signal(name=names.RATE_REPORT_SIGNAL)
    @extra_arguments
    def outcomes(self, report: OutcomeReport = ABSENT, *extra: Any) -> None:  # type: ignore[assignment]
        if (problem := signal_problem(report, extra)) is not None:
            workflow.logger.warning("a rate report signal ignored: %s", problem)
            return
        self._pending = self._pending.merged(report)

    def _bad_news(self) -> bool:
        """Reports to act on at once: 429s, and failures that could open the breaker (any while
        probing; runs from before failures-wait-for-the-tick: any)."""
        pending = self._pending
        if pending.rate_limited:
            return True
        if not pending.failed:
            return False
        if not self._failures_wait or self._state.phase == "probing":
            return True
        now = workflow.now().timestamp() if self._quiet_spells else None
        return could_open(self._state, pending.answered, pending.failed, now)

    @workflow.query(name=names.RATE_STATE_QUERY)
    def rate_state(self) -> ControllerState:
        return self._state

    @workflow.run
    async def run(self, start: ControllerInput) -> None:
        steady_probes = workflow.patched(PATCH_STEADY_PROBES)
        declared_limits = workflow.patched(PATCH_DECLARED_LIMITS)
        capped_probes = workflow.patched(PATCH_CAPPED_PROBES)
        demand_cuts = workflow.patched(PATCH_DEMAND_CUTS)
        gentle_probes = workflow.patched(PATCH_GENTLE_PROBES)
        fast_first_climb = workflow.patched(PATCH_FAST_FIRST_CLIMB)
        probe_failure_share = workflow.patched(PATCH_PROBE_FAILURE_SHARE)
        raise_keeps_cuts = workflow.patched(PATCH_RAISE_KEEPS_CUTS)
        short_windows_hold = workflow.patched(PATCH_SHORT_WINDOWS_HOLD)
        stray_cuts_bounded = workflow.patched(PATCH_STRAY_CUTS_BOUNDED)
        quiet_spells = self._quiet_spells = workflow.patched(PATCH_QUIET_SPELLS)
        mixed_modes = workflow.patched(PATCH_MIXED_MODES)
        self._failures_wait = workflow.patched(PATCH_FAILURES_WAIT)
        sets_retried = workflow.patched(PATCH_FAILED_SETS_RETRIED)
        if workflow.patched(PATCH_RENEWED_RUNS):
            # Kept on the instance (a task nothing refers to may be collected); a timer still
            # pending when the run continues as new goes with it, no command to cancel it.
            self._renewal = self._renew_after(start.renew_after_seconds)
        # As the previous run last decided (its last window's mode, or adaptive workers still
        # outvoting declared ones): the rate on the queue is this state's then.
        learns = start.mode == "adaptive" or start.learnt
        cool_down = start.cool_down_seconds
        # The rate in force when this run starts: the worker set the starting rate, or the
        # previous run applied this state's rate before continuing as new.
        applied: float | None = self._state.queue_rate()
        if declared_limits:
            # Rounded as every rate it applies is: a rate that did not change is not set again
            # after continue-as-new (runs from before set it again, and replay that). A queue
            # whose rate comes only from the provider's declared limit has none until one came.
            nothing_declared = not learns and self._state.allowed is None
            applied = None if nothing_declared else round(applied, 3)
        last = workflow.now()
        retry_unapplied = False  # a set failed: tick again without waiting for a report
        # Sets in a row that failed, and no set before ``retry_at`` once two have
        # (unapplied-backoff); carried across continue-as-new.
        failed_sets = start.failed_sets
        retry_at = last
        if start.retry_at is not None:
            retry_at = datetime.fromtimestamp(start.retry_at, UTC)
        if start.unapplied:
            # The last run's last set failed: whatever the queue has, set the rate now (a wait
            # for a tick could meet this run's renewal first, and the next run the same),
            # unless the sets are backing off.
            if failed_sets > 1 and last < retry_at and workflow.patched(PATCH_UNAPPLIED_BACKOFF):
                applied, retry_unapplied = UNKNOWN_RATE, True
            else:
                wanted = self._wanted(learns)
                if await self._apply(start.provider_queue, wanted, learns):
                    applied, failed_sets = wanted, 0
                else:
                    applied, retry_unapplied = UNKNOWN_RATE, True
                    failed_sets += 1
                    retry_at = _next_try(failed_sets)
        mode = start.mode  # the mode the workers last reported
        # When a report (or the start) last said the adaptive mode (mixed-modes-learn).
        adaptive_at = workflow.now() if start.mode == "adaptive" else None
        if start.adaptive_at is not None and start.mode != "adaptive":
            adaptive_at = datetime.fromtimestamp(start.adaptive_at, UTC)
        for _ in range(TICKS_PER_RUN):
            if workflow.info().is_continue_as_new_suggested() or self._renew:
                break
            if self._state.phase == "open":
                # Paused: no calls, no reports; wake when the cool-down ends, or to set the
                # pause again when it failed (failed-sets-retried).
                left = self._state.open_until - workflow.now().timestamp()
                retrying = retry_unapplied and sets_retried
                retry = _seconds(_retry_wait(failed_sets, retry_at)) if retrying else left
                if retry < left:
                    await workflow.sleep(retry)
                    # Only the pause set again, no decision: the cool-down's window (and any
                    # report of calls ending in it) goes to the one at its end, as before.
                    wanted = self._wanted(learns)
                    if await self._apply(start.provider_queue, wanted, learns):
                        applied, retry_unapplied, failed_sets = wanted, False, 0
                    else:
                        failed_sets += 1
                        retry_at = _next_try(failed_sets)
                    continue
                await workflow.sleep(max(left, 0.0))
            else:
                if self._pending.empty():
                    wait: timedelta | None = None
                    if retry_unapplied:
                        wait = _retry_wait(failed_sets, retry_at)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await workflow.wait_condition(
                            lambda: not self._pending.empty() or self._renew, timeout=wait
                        )
                    if self._renew:
                        break  # the reports that woke it, if any, go to the next run
                    last = max(last, workflow.now() - REPORT_COVERS)
                # Bad news is acted on when it arrives (every 429 sent meanwhile is wasted);
                # good news waits for the tick, so increases are measured over a whole one.
                left = _seconds(TICK - (workflow.now() - last))
                if left > 0 and not self._bad_news():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await workflow.wait_condition(self._bad_news, timeout=left)
            now = workflow.now()
            report, self._pending = self._pending, OutcomeReport()
            # The workers' configuration wins over the one the controller started with (runs
            # from before the modes always learn).
            said = report.mode
            if said is None and mode != start.mode and workflow.patched(PATCH_REPORTED_MODE_KEPT):
                said = mode
            learns = not declared_limits or (said or start.mode) == "adaptive"
            if report.mode == "adaptive":
                adaptive_at = now
            if (
                mixed_modes
                and not learns
                and adaptive_at is not None
                and now - adaptive_at < ADAPTIVE_KEPT
            ):
                learns = True  # adaptive workers still report: they win, as within a window
            mode = report.mode or mode
            # The workers' breaker_cool_down_seconds, once they say another (asked only then).
            reported = report.cool_down_seconds
            if (
                reported is not None
                and reported != cool_down
                and workflow.patched(PATCH_REPORTED_COOL_DOWN)
            ):
                cool_down = reported
            window = Window(
                seconds=_seconds(now - last),
                answered=report.answered,
                rate_limited=report.rate_limited,
                failed=self._failed(report, cool_down),
                retry_after=report.retry_after,
                allowed_rate=report.allowed_rate,
            )
            last = now
            self._state = step(
                self._state,
                window,
                now.timestamp(),
                cool_down,
                steady_probes=steady_probes,
                declared_limits=declared_limits,
                learns=learns,
                capped_probes=capped_probes,
                demand_cuts=demand_cuts,
                gentle_probes=gentle_probes,
                fast_first_climb=fast_first_climb,
                probe_failure_share=probe_failure_share,
                raise_keeps_cuts=raise_keeps_cuts,
                short_windows_hold=short_windows_hold,
                stray_cuts_bounded=stray_cuts_bounded,
                quiet_spells=quiet_spells,
            )
            wanted = self._wanted(learns)
            held = failed_sets > 1 and now < retry_at and workflow.patched(PATCH_UNAPPLIED_BACKOFF)
            if wanted != applied and not held:
                if await self._apply(start.provider_queue, wanted, learns):
                    applied = wanted
                    retry_unapplied = False
                    failed_sets = 0
                else:
                    retry_unapplied = workflow.patched(PATCH_RETRY_UNAPPLIED)
                    failed_sets += 1
                    retry_at = _next_try(failed_sets)
                    if sets_retried:
                        # It may have reached the server all the same (its answer lost): the
                        # rate in force is unknown, and the next one wanted is set whatever it is.
                        applied = UNKNOWN_RATE
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            start.model_copy(
                update={
                    "state": self._state,
                    "pending": self._pending,
                    "cool_down_seconds": cool_down,
                    "mode": mode,
                    "unapplied": retry_unapplied,
                    "failed_sets": failed_sets,
                    "retry_at": retry_at.timestamp() if failed_sets > 1 else None,
                    "learnt": learns,
                    "adaptive_at": adaptive_at.timestamp() if adaptive_at is not None else None,
                }
            )
        )

    def _failed(self, report: OutcomeReport, cool_down: float) -> int:
        """The failures the window counts: while the breaker probes, those of calls the probe
        sent (probe-fresh-failures); before, and otherwise, all."""
        if self._state.phase != "probing" or not report.failed:
            return report.failed
        since = probe_began_by(self._state, cool_down)
        new = new_failures(report.failed, report.failed_started, since, MAX_FAILED_STARTS)
        if new < report.failed and workflow.patched(PATCH_PROBE_FRESH_FAILURES):
            return new
        return report.failed

    def _wanted(self, learns: bool) -> float | None:
        """The queue's rate for the state, rounded as every applied rate is. Taking only declared
        limits, nothing declared (yet): no rate (one left by the adaptive mode is removed)."""
        if not learns and self._state.allowed is None:
            return None
        return round(self._state.queue_rate(), 3)

    def _renew_after(self, seconds: float) -> "asyncio.Task[None]":
        async def later() -> None:
            await workflow.sleep(seconds, summary="renew this run (continue as new)")
            self._renew = True

        return asyncio.create_task(later())

    async def _apply(self, queue: str, rate: float | None, learns: bool = True) -> bool:
        """Set ``rate`` on the queue (None: remove the queue's rate)."""
        if rate is None:
            steady = "no limit declared: no rate on the queue"
        elif not learns:
            steady = "the limit the provider declares x rate_limit_headroom"
        elif self._state.allowed is None:
            steady = "adaptive limit (AIMD on the provider's 429s)"
        else:
            steady = "adaptive limit (the provider's declared limit x headroom; AIMD on its 429s)"
        reason = {
            "open": "circuit open: the provider is failing most calls",
            "probing": "circuit half-open: probing the provider",
        }.get(self._state.phase, steady)
        try:
            await workflow.execute_activity(
                names.SET_QUEUE_RATE,
                QueueRateChange(provider_queue=queue, requests_per_second=rate, reason=reason),
                start_to_close_timeout=SET_RATE_START_TO_CLOSE,
                retry_policy=SET_RATE_RETRY,
                summary=f"{queue} -> {rate:g}/s" if rate is not None else f"{queue}: no rate",
            )
        except ActivityError as err:
            # The next tick tries again; the controller itself must not fail.
            workflow.logger.warning("could not set the rate of %s: %s", queue, err)
            return False
        return True
