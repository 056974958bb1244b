"""Committed histories of the rate controller (``ProviderRateController``): both sides of each
patch to its rules, and that today's code asks for the very rates each history set (replay
compares commands, not activity inputs, and the rules change only the inputs)."""

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from policy.adaptive_rate import DECREASE
from shared.data_converter import reading_only
from shared.rate_control import RENEW_AFTER_SECONDS, QueueRateChange
from tests.replay.committed import FOLDER, HISTORIES, load, patches
from tests.support.temporal import CONVERTER
from workflows.rate_controller import (
    PATCH_CAPPED_PROBES,
    PATCH_DECLARED_LIMITS,
    PATCH_DEMAND_CUTS,
    PATCH_FAILED_SETS_RETRIED,
    PATCH_FAILURES_WAIT,
    PATCH_FAST_FIRST_CLIMB,
    PATCH_GENTLE_PROBES,
    PATCH_MIXED_MODES,
    PATCH_PROBE_FAILURE_SHARE,
    PATCH_PROBE_FRESH_FAILURES,
    PATCH_QUIET_SPELLS,
    PATCH_RAISE_KEEPS_CUTS,
    PATCH_RENEWED_RUNS,
    PATCH_SHORT_WINDOWS_HOLD,
    PATCH_STEADY_PROBES,
    PATCH_STRAY_CUTS_BOUNDED,
    ProviderRateController,
)


def test_rate_controllers_from_before_and_after_the_plateau_rules_are_committed() -> None:
    """Both sides of the ``steady-probes`` patch, each with a cut and the climb back past the
    ceiling (where the rules differ): v1 replays the first rules, v2 the plateau."""
    controllers = {p.stem: patches(p) for p in HISTORIES if p.stem.startswith("providerrate")}
    assert PATCH_STEADY_PROBES not in controllers["providerratecontroller-v1-controller"]
    assert PATCH_STEADY_PROBES in controllers["providerratecontroller-v2-controller"]


def test_rate_controllers_from_before_and_after_declared_limits_are_committed() -> None:
    """Both sides of the ``declared-limits`` patch: v2 ignores what providers declare (it never
    saw one), v3 took a declared limit and held the rate at its share."""
    controllers = {p.stem: patches(p) for p in HISTORIES if p.stem.startswith("providerrate")}
    assert PATCH_DECLARED_LIMITS not in controllers["providerratecontroller-v2-controller"]
    assert PATCH_DECLARED_LIMITS in controllers["providerratecontroller-v3-controller"]


async def set_rates(path: Path) -> list[float | None]:
    """The rates a controller's history set on its queue, in order."""
    rates = []
    for event in load(path).events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            payloads = event.activity_task_scheduled_event_attributes.input.payloads
            (change,) = await CONVERTER.decode(payloads, [QueueRateChange])
            rates.append(change.requests_per_second)
    return rates


def probe_steps(rates: list[float | None]) -> list[float]:
    """The increases above the ceiling: those under 4.5% of the rate (the fast climb's are 5% of
    the ceiling; a cut, the breaker and a declared limit are no increase or a large one)."""
    steps = []
    for before, after in itertools.pairwise(rates):
        if before and after and 0 < after - before < 0.045 * before:
            steps.append(round(after - before, 3))
    return steps


async def test_rate_controllers_from_before_and_after_capped_probe_steps_are_committed() -> None:
    """Both sides of the ``capped-probe-steps`` patch. Only the rates differ, not the commands,
    so replay alone cannot tell the rules apart: v3's probe steps grow (1%, 2%, 3% of the
    ceiling), v4's stop at 2%."""
    v3 = FOLDER / "providerratecontroller-v3-controller.json"
    v4 = FOLDER / "providerratecontroller-v4-controller.json"
    assert PATCH_CAPPED_PROBES not in patches(v3)
    assert PATCH_CAPPED_PROBES in patches(v4)
    growing, capped = probe_steps(await set_rates(v3)), probe_steps(await set_rates(v4))
    assert growing == sorted(growing) and growing[-1] >= 2.5 * growing[0]
    assert len(capped) >= 5
    assert max(capped) <= 2 * capped[0] + 0.001


def test_rate_controllers_from_before_and_after_renewed_runs_are_committed() -> None:
    """Both sides of the ``renewed-runs`` patch (a timer at each run's start): v4 replays
    without it, v5 with it (both replay: test_a_released_history_replays_without_...)."""
    v4 = FOLDER / "providerratecontroller-v4-controller.json"
    v5 = FOLDER / "providerratecontroller-v5-controller.json"
    assert PATCH_RENEWED_RUNS not in patches(v4)
    assert PATCH_RENEWED_RUNS in patches(v5)
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in load(v5).events
        if e.HasField("timer_started_event_attributes")
    ]
    assert timedelta(seconds=RENEW_AFTER_SECONDS) in timers  # its summary is encrypted


async def test_rate_controllers_from_before_and_after_demand_aware_cuts_are_committed() -> None:
    """Both sides of the ``demand-aware-cuts`` patch: v6 ends with a stray 429 while the queue
    answered about a call a second of its 4/s, and cut by the decrease share only (v5 would have
    cut to the demand). Only the rate differs, not the commands."""
    v5 = FOLDER / "providerratecontroller-v5-controller.json"
    v6 = FOLDER / "providerratecontroller-v6-controller.json"
    assert PATCH_DEMAND_CUTS not in patches(v5)
    assert PATCH_DEMAND_CUTS in patches(v6)
    assert (await set_rates(v6))[-2:] == [4.0, 4.0 * DECREASE]


async def test_rate_controllers_from_before_and_after_gentle_probes_are_committed() -> None:
    """Both sides of the ``gentle-probes`` patch: the same scenario (a cut, then a queue using
    all it gets, past the plateau), v6 probing at 1% then 2% of the ceiling a tick, v7 at half
    that. Only the rates differ, not the commands."""
    v6 = FOLDER / "providerratecontroller-v6-controller.json"
    v7 = FOLDER / "providerratecontroller-v7-controller.json"
    assert PATCH_GENTLE_PROBES not in patches(v6)
    assert PATCH_GENTLE_PROBES in patches(v7)
    before, gentle = probe_steps(await set_rates(v6)), probe_steps(await set_rates(v7))
    assert len(before) >= 5 and len(gentle) >= 5
    # Rates are set to 3 decimals: at these low rates a step is a few thousandths.
    assert max(gentle) <= 0.6 * max(before)


async def test_rate_controllers_from_before_and_after_fast_first_climb_are_committed() -> None:
    """Both sides of the ``fast-first-climb`` patch: v7's runs replay without it; v8's
    first-climb scenario (slow start, its cut below the rate that drew no 429, a queue using all
    it gets) climbs at once after the cut, by the fast step, where v7's rules held at the
    measured limit for the plateau's ticks."""
    v7 = FOLDER / "providerratecontroller-v7-controller.json"
    v8 = FOLDER / "providerratecontroller-v8-first-climb.json"
    assert PATCH_FAST_FIRST_CLIMB not in patches(v7)
    assert PATCH_FAST_FIRST_CLIMB in patches(v8)
    rates = [r for r in await set_rates(v8) if r is not None]
    cut = next(n for n in range(1, len(rates)) if rates[n] < rates[n - 1])
    climb = rates[cut : cut + 3]
    assert len(climb) == 3 and climb[0] < climb[1] < climb[2], rates
    # The step is FAST_STEP of the ceiling (about the cut rate): 5%, not a probe's 0.5%.
    assert climb[1] - climb[0] >= 0.03 * climb[0], rates


def test_rate_controllers_from_before_and_after_short_windows_hold_are_committed() -> None:
    """Both sides of the ``short-windows-hold`` patch: v9's runs replay without it (a window cut
    short by failures raised the rate), v10's with it; the scenario's rates are the same (the
    replay test below checks each history's)."""
    v9 = FOLDER / "providerratecontroller-v9-controller.json"
    v10 = FOLDER / "providerratecontroller-v10-controller.json"
    assert PATCH_SHORT_WINDOWS_HOLD not in patches(v9)
    assert PATCH_SHORT_WINDOWS_HOLD in patches(v10)


async def test_rate_controllers_from_before_and_after_the_three_mends_are_committed() -> None:
    """Both sides of ``stray-cuts-bounded``, ``failures-wait-for-the-tick`` and
    ``failed-sets-retried`` (asked together, once per run): v10's runs replay without them, v11's
    with them (its scenario sets the same rates). The paths history took the last one's path: a
    pause whose three attempts reached the server with their answers lost, then the probe at the
    rate from before (1/s), which the code before it never set."""
    v10 = FOLDER / "providerratecontroller-v10-controller.json"
    v11 = FOLDER / "providerratecontroller-v11-controller.json"
    lost = FOLDER / "providerratecontroller-paths-failed-sets-retried.json"
    for patch in (PATCH_STRAY_CUTS_BOUNDED, PATCH_FAILURES_WAIT, PATCH_FAILED_SETS_RETRIED):
        assert patch not in patches(v10)
        assert patch in patches(v11) and patch in patches(lost)
    assert await set_rates(lost) == [0.0, 1.0]


def test_rate_controllers_from_before_and_after_quiet_spells_are_committed() -> None:
    """Both sides of ``quiet-spells`` and ``mixed-modes-learn`` (asked once per run): v11's runs
    replay without them, v12's with them; its scenario has no quiet spell and one mode, so it
    sets v11's rates (the test below checks each history's rates against today's code)."""
    v11 = FOLDER / "providerratecontroller-v11-controller.json"
    v12 = FOLDER / "providerratecontroller-v12-controller.json"
    for patch in (PATCH_QUIET_SPELLS, PATCH_MIXED_MODES):
        assert patch not in patches(v11)
        assert patch in patches(v12)


class _SetRates(Interceptor):
    """Records the rate of every set-rate activity a replayed controller asks for (unsandboxed:
    the list is this module's)."""

    def __init__(self) -> None:
        self.rates: list[float | None] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        rates = self.rates

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> Any:
                (change,) = input.args
                rates.append(change.requests_per_second)
                return super().start_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


@pytest.mark.parametrize(
    "path",
    [p for p in HISTORIES if p.stem.startswith("providerratecontroller-")],
    ids=lambda p: p.stem,
)
async def test_a_replayed_controller_sets_the_rates_its_history_set(path: Path) -> None:
    """Replay compares commands, not activity inputs: a rule change outside its patch (a run
    from before it deciding by the new rules) replays cleanly and sets other rates. Today's code
    must ask for the very rates each committed history set."""
    recorder = _SetRates()
    replayer = Replayer(
        workflows=[ProviderRateController],
        data_converter=reading_only(CONVERTER),
        interceptors=[recorder],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    await replayer.replay_workflow(load(path))
    assert recorder.rates == await set_rates(path)


async def test_a_controller_taking_only_declared_limits_set_them_and_nothing_else() -> None:
    """The declared-only mode's history (adaptive_limit off): the rates it set on the queue are
    the declared limits' shares, in order; nothing before the first, nothing for the 429s and
    failures in between."""
    rates = await set_rates(FOLDER / "providerratecontroller-v3-declared-only.json")
    assert rates == [4.0, 3.0]
    assert PATCH_DECLARED_LIMITS in patches(FOLDER / "providerratecontroller-v3-declared-only.json")


async def test_rate_controllers_from_before_and_after_the_probe_share_and_kept_cuts() -> None:
    """Both sides of the ``probe-failure-share`` and ``raise-keeps-cuts`` patches (asked
    together, once per run): v8's runs replay without them, v9's with them. The recorded
    scenario has neither a mixed probe window nor a dip of the allowed rate (the unit tests of
    policy/adaptive_rate.py hold those); that today's code asks for its very rates is checked
    with every other history's."""
    v8 = FOLDER / "providerratecontroller-v8-first-climb.json"
    v9 = FOLDER / "providerratecontroller-v9-controller.json"
    for patch in (PATCH_PROBE_FAILURE_SHARE, PATCH_RAISE_KEEPS_CUTS):
        assert patch not in patches(v8)
        assert patch in patches(v9)


async def test_a_controller_whose_probe_saw_a_leftover_failure_is_committed() -> None:
    """Both sides of ``probe-fresh-failures`` (asked only for a probe window holding a failure of
    a call begun before the breaker opened): v11's runs replay without it; the paths history took
    its path, a leftover's failure and the probe's answer closing the breaker at the rate from
    before, where the code before it paused the queue again (its old path, recorded by running
    the same test on that code)."""
    v11 = FOLDER / "providerratecontroller-v11-controller.json"
    leftover = FOLDER / "providerratecontroller-paths-probe-fresh-failures.json"
    # The same test run on the code before it: the leftover opened the breaker again.
    before = FOLDER / "providerratecontroller-before-probe-fresh-failures.json"
    assert PATCH_PROBE_FRESH_FAILURES not in patches(v11)
    assert PATCH_PROBE_FRESH_FAILURES not in patches(before)
    assert PATCH_PROBE_FRESH_FAILURES in patches(leftover)
    assert await set_rates(leftover) == [4.0]
    assert await set_rates(before) == [0.0]
