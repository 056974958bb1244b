"""`report --since` and `GET /report?since=`: what a mistaken window is told."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.time_window import since_moment

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_spans_and_times_are_read() -> None:
    assert since_moment("90m", NOW) == NOW - timedelta(minutes=90)
    assert since_moment("2026-12-01", NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    assert since_moment("2026-12-01T09:30+02:00", NOW) == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # It said "neither a time nor a span" of something that is a span, only too long.
        ("99999999d", "'99999999d' is a span of more than 6 digits: give at most 999999"),
        # A "+" in a query string is a space.
        ("2026-12-01T09:30 02:00", "(90m, 24h, 7d) (in a URL, write + as %2B)"),
        ("soon", "'soon' is neither a time (2026-12-01, 2026-12-01T09:30Z) nor a span back"),
        ("999999d", "'999999d' reaches back before year 1"),
    ],
)
def test_a_mistaken_window_is_told_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(ValueError) as refused:
        since_moment(text, NOW)
    assert said in str(refused.value)
