"""The fake provider's request bucket (a fake for the benchmarks and the rate tests): a refused
request takes nothing by default, and with ``refusals_count`` counts against the limit as
OpenAI's do, so sending over the limit keeps a client refused."""

import pytest

from tests.support import fake_llm_limits
from tests.support.fake_llm_limits import SecondBucket


class ClockFake:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("refusals_count", "answered_after"), [(False, 2), (True, 0)])
def test_a_refused_request_counts_against_the_limit_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, refusals_count: bool, answered_after: int
) -> None:
    clock = ClockFake()
    monkeypatch.setattr(fake_llm_limits.time, "monotonic", clock)
    bucket = SecondBucket(10.0, refusals_count=refusals_count)
    assert all(bucket.take(1) for _ in range(10))  # the second's worth saved up
    assert [bucket.take(1) for _ in range(20)] == [False] * 20  # twenty over the limit
    clock.now += 0.25  # two and a half requests' worth come back
    assert sum(bucket.take(1) for _ in range(5)) == answered_after
    # The debt is a second's worth at most: a second later the limit answers again.
    clock.now += 1.5
    assert bucket.take(1)
