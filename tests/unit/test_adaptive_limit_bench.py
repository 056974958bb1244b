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
