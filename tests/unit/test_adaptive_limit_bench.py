"""`python -m bench adaptive_limit --simulate`: the spread of the controller's rules over seeds,
printed as the simulator measures it, and an exit status that says whether the medians meet the
429 target."""

import statistics

import pytest

from bench import adaptive_limit
from tests.support.rate_simulation import simulate


def _rows(printed: str) -> dict[str, list[str]]:
    rows = {}
    for line in printed.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0].endswith("/s"):
            rows[cells[0]] = cells[1:]
    return rows


def test_the_spread_is_the_simulators_and_the_status_follows_the_medians(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = adaptive_limit.simulated(seeds=3, latency=0.3)
    rows = _rows(capsys.readouterr().out)

    assert list(rows) == ["5/s", "10/s", "30/s"]
    medians = {}
    for limit in (5.0, 10.0, 30.0):
        runs = [simulate(limit, seed=s, latency=0.3) for s in range(3)]
        shares = sorted(r.rate_limited_share for r in runs)
        medians[limit] = statistics.median(shares)
        median, _p90, worst, over, *_ = rows[f"{limit:g}/s"]
        assert median == f"{medians[limit]:.2%}"
        assert worst == f"{shares[-1]:.2%}"
        assert over == f"{sum(s > adaptive_limit.TARGET_429_SHARE for s in shares)} of 3"
    met = all(m <= adaptive_limit.TARGET_429_SHARE for m in medians.values())
    assert status == (0 if met else 1)


@pytest.mark.parametrize("seeds", ["0", "1001"])
def test_a_seed_count_out_of_range_is_refused_by_name(
    seeds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        adaptive_limit.main(["--simulate", "--seeds", seeds])
    assert exited.value.code == 2
    assert f"--seeds must be 1 to 1000, not {seeds}" in capsys.readouterr().err


def test_the_limits_start_rate_and_minutes_asked_for_are_the_ones_simulated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = adaptive_limit.main(
        [
            "--simulate",
            "--seeds",
            "2",
            "--limits",
            "0.5, 2",
            "--start-rate",
            "0.3",
            "--minutes",
            "2",
        ]
    )
    printed = capsys.readouterr().out
    rows = _rows(printed)

    assert "starting at 0.3/s" in printed
    assert list(rows) == ["0.5/s", "2/s"]
    medians = []
    for limit, calls, burst in ((0.5, 60, 2.0), (2.0, 240, 1.0)):
        runs = [
            simulate(limit, seed=s, latency=0.3, calls=calls, start_rate=0.3, burst_seconds=burst)
            for s in range(2)
        ]
        shares = sorted(r.rate_limited_share for r in runs)
        answered = sorted(r.answered_share for r in runs)
        medians.append(statistics.median(shares))
        median, _p90, worst, _over, answered_median, lowest = rows[f"{limit:g}/s"]
        assert (median, worst) == (f"{medians[-1]:.2%}", f"{shares[-1]:.2%}")
        assert (answered_median, lowest) == (
            f"{statistics.median(answered):.3f}",
            f"{answered[0]:.3f}",
        )
    assert status == (0 if max(medians) <= adaptive_limit.TARGET_429_SHARE else 1)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--limits", "1,x"], "--limits '1,x': 'x' is not a number of requests per second"),
        (["--limits", "0"], "--limits '0': '0' must be 0.05 to 1000 requests/s"),
        (["--limits", "nan"], "--limits 'nan': 'nan' must be 0.05 to 1000 requests/s"),
        (["--limits", "1e-300"], "--limits '1e-300': '1e-300' must be 0.05 to 1000 requests/s"),
        (
            ["--limits", "0.5", "--minutes", "0.001"],
            "0.5/s for 0.001 minute(s) is under 20 calls, too few to say anything",
        ),
        (["--latency", "nan"], "--latency must be above 0 and at most 60 seconds"),
        (["--latency", "-1"], "--latency must be above 0 and at most 60 seconds"),
        (["--limits", ",".join(["1"] * 11)], "give 1 to 10 limits"),
        (["--start-rate", "0"], "--start-rate must be above 0 and at most 1000"),
        (["--minutes", "31"], "--minutes must be above 0 and at most 30"),
    ],
)
def test_a_simulated_provider_out_of_range_is_refused_by_name(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        adaptive_limit.main(["--simulate", *argv])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--limits", "1"], ["--seeds", "3"], ["--minutes", "2"]])
def test_a_simulation_option_without_simulate_is_refused_not_dropped(
    option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Dropped, the whole benchmark (servers, a minute and more) ran instead.
    with pytest.raises(SystemExit) as exited:
        adaptive_limit.main(option)
    assert exited.value.code == 2
    assert f"{option[0]} goes with --simulate" in capsys.readouterr().err


def test_the_limit_used_is_read_against_what_the_provider_allowed_in_the_window() -> None:
    # Answered calls a second over the window read 1.068 of the limit with no 429: N calls over
    # N-1 gaps, and the second's worth the fake's bucket holds at the start. A bucket as the
    # fake's (tests/support/fake_llm_limits.py: R a second, a second's worth, full at first)
    # asked every 10 ms for 5 s answers what `allowed` says, and more than R x 5 s.
    from bench.llm_rate_limit import allowed

    rate, left, answered = 10.0, 10.0, 0
    for step in range(501):
        left = min(rate, left + (0.01 * rate if step else 0.0))
        if left >= 1.0:
            left, answered = left - 1.0, answered + 1
    assert answered / (rate * 5.0) > 1.0  # the old reading
    assert 0.98 <= answered / allowed(rate, 5.0) <= 1.0


def test_simulate_with_refusals_counting_runs_the_provider_that_counts_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--simulate --refusals-count: the simulated provider takes a refused call from its
    allowance too (as OpenAI documents), and the spread printed is that provider's."""
    status = adaptive_limit.main(
        ["--simulate", "--refusals-count", "--seeds", "3", "--limits", "10"]
    )
    out = capsys.readouterr().out
    runs = [simulate(10.0, seed=s, latency=0.3, refusals_count=True) for s in range(3)]
    plain = [simulate(10.0, seed=s, latency=0.3) for s in range(3)]

    assert "refused calls count against the limit" in out
    median = statistics.median(r.rate_limited_share for r in runs)
    assert _rows(out)["10/s"][0] == f"{median:.2%}"
    # The debt a refusal leaves makes each overshoot cost more: the rules miss the target here.
    assert median > statistics.median(r.rate_limited_share for r in plain)
    assert status == 1
