"""The adaptive-limit benchmark's second-by-second timeline, on which docs/rate-control.md's
account of where the 429s come from rests: each call lands in its second, 429s apart from
answers, and each rate the controller set lands in the second it was set, a cut marked."""

from datetime import UTC, datetime, timedelta

import pytest

from bench.adaptive_limit import print_timeline
from tests.support.fake_llm import Recorded, Reply

STARTED = 1_000.0  # the run's start on the monotonic clock
STARTED_WALL = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def call(at: float, status: int = 200) -> Recorded:
    return Recorded("POST", "/v1/chat/completions", {}, {}, STARTED + at, Reply(status=status))


def set_at(seconds: float, rate: float) -> tuple[datetime, float]:
    return STARTED_WALL + timedelta(seconds=seconds), rate


def test_the_timeline_puts_429s_and_rates_in_their_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The first call 0.5 s into the run: seconds are counted from it.
    calls = [call(0.5), call(1.6), call(1.7, 429), call(2.9, 429), call(3.6), call(5.5)]
    changes = [set_at(1.0, 3.0), set_at(2.2, 4.5), set_at(3.7, 3.0), set_at(4.0, 3.5)]
    print_timeline(calls, changes, STARTED, STARTED_WALL, rps=10)
    lines = [line.split() for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert lines == [
        ["0", "s", "1", "/", "0", "3"],  # set 1.0 s into the run: second 0 of the calls
        ["1", "s", "1", "/", "1", "4.5"],
        ["2", "s", "0", "/", "1"],
        ["3", "s", "1", "/", "0", "3", "(cut),", "3.5"],
    ]  # second 4 had nothing to show; second 5 one answer and no rate: not printed
