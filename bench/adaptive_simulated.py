"""`python -m bench adaptive_limit --simulate`: the rate controller's rules against the simulated
provider (tests/support/rate_simulation.py) over many seeds, no servers; its options' limits."""

import statistics

from shared.provider_config import ProviderConfig
from tests.support.rate_simulation import simulate

# The target for a limit nobody declared: >= 0.9 of it, <= 2% 429s.
TARGET_SHARE = 0.9
TARGET_429_SHARE = 0.02
# --simulate's starting rate: a provider's adaptive_start_rate when its configuration says none.
START_RATE: float = ProviderConfig.model_fields["adaptive_start_rate"].default

MAX_SEEDS = 1000  # --simulate: about a second per 15 seeds at each of three limits
SIMULATED_LIMITS = (5.0, 10.0, 30.0)  # requests/s, --simulate's default
MAX_SIMULATED_LIMITS = 10
MAX_SIMULATED_LIMIT = 1000.0  # requests/s: a minute at the limit is then 60,000 simulated calls
MIN_SIMULATED_LIMIT = 0.05  # requests/s: three a minute; the simulator's hour then holds 180
MIN_SIMULATED_CALLS = 20  # a run with fewer says nothing about a share of 429s
MAX_SIMULATED_MINUTES = 30.0


def limits_argument(text: str) -> tuple[float, ...]:
    """``--limits``: comma-separated requests/s, each above 0 and at most MAX_SIMULATED_LIMIT."""
    cells = [c.strip() for c in text.split(",")]
    if not 1 <= len(cells) <= MAX_SIMULATED_LIMITS:
        raise ValueError(f"give 1 to {MAX_SIMULATED_LIMITS} limits")
    limits = []
    for cell in cells:
        try:
            limit = float(cell)
        except ValueError:
            raise ValueError(f"{cell!r} is not a number of requests per second") from None
        if not MIN_SIMULATED_LIMIT <= limit <= MAX_SIMULATED_LIMIT:  # also refuses nan
            raise ValueError(
                f"{cell!r} must be {MIN_SIMULATED_LIMIT:g} to {MAX_SIMULATED_LIMIT:g} requests/s"
            )
        limits.append(limit)
    return tuple(limits)


def simulated(
    seeds: int,
    latency: float,
    limits: tuple[float, ...] = SIMULATED_LIMITS,
    start_rate: float = START_RATE,
    minutes: float = 1.0,
    refusals_count: bool = False,
) -> int:
    """The controller's rules (as a controller started now runs them) against the simulated
    provider with a one-second burst allowance (at least one call), ``minutes`` worth of calls at
    each limit (at 10/s and a minute, the benchmark's 600); ``refusals_count``: a refused call
    takes from the allowance too, down to a burst's debt (as OpenAI documents for its limits)."""
    print(
        f"the rules against the simulated provider (tests/support/rate_simulation.py), {seeds} "
        f"seeds per limit, {minutes:g} minute(s)' worth of calls at the limit, starting at "
        f"{start_rate:g}/s, {latency * 1000:.0f} ms per call, a one-second burst allowance (at "
        "least one call), Retry-After 1 s"
        + ("; refused calls count against the limit" if refusals_count else "")
        + "\n"
    )
    print(
        "| limit | 429s: median | 90th percentile | worst | runs over 2% | "
        "answered / limit: median | lowest |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    ok = True
    for limit in limits:
        runs = [
            simulate(
                limit,
                seed=s,
                latency=latency,
                calls=max(1, round(limit * 60 * minutes)),
                start_rate=start_rate,
                burst_seconds=max(1.0, 1.0 / limit),
                refusals_count=refusals_count,
            )
            for s in range(seeds)
        ]
        shares = sorted(r.rate_limited_share for r in runs)
        answered = sorted(r.answered_share for r in runs)
        over = sum(s > TARGET_429_SHARE for s in shares)
        median = statistics.median(shares)
        ok = ok and median <= TARGET_429_SHARE and statistics.median(answered) >= TARGET_SHARE
        print(
            f"| {limit:g}/s | {median:.2%} | "
            f"{shares[min(len(shares) - 1, int(0.9 * len(shares)))]:.2%} | {shares[-1]:.2%} | "
            f"{over} of {seeds} | {statistics.median(answered):.3f} | {answered[0]:.3f} |"
        )
    return 0 if ok else 1
