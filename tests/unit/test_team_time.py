"""The command-line client's times in the team's zone (TICKETS_TIMEZONE), UTC beside them; the
same text as before without it. Read once per process: each test clears the cache."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.config_errors import ConfigError
from starter import render, team_time

DEADLINE = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_zone() -> Iterator[None]:
    team_time.team_zone.cache_clear()
    yield
    team_time.team_zone.cache_clear()


def test_without_a_zone_times_read_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETS_TIMEZONE", raising=False)
    closed = DEADLINE - timedelta(hours=1)
    assert render.deadline_text(DEADLINE, True, closed) == "2026-01-15 23:30 UTC (met)"
    assert team_time.clock_label() == "UTC" and team_time.clock(DEADLINE) == "23:30:00"


def test_a_zone_shows_its_time_and_the_utc_one_with_its_date_when_another_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKETS_TIMEZONE", "Europe/Berlin")
    closed = DEADLINE + timedelta(minutes=5)
    assert render.deadline_text(DEADLINE, True, closed) == (
        "2026-01-16 00:30 CET (2026-01-15 23:30 UTC) (missed by 5m)"
    )
    now = DEADLINE - timedelta(hours=2)
    assert render.when(DEADLINE, now) == "2026-01-16 00:30 CET (2026-01-15 23:30 UTC) (in 2h00m)"
    assert (
        team_time.at(DEADLINE, seconds=True) == "2026-01-16 00:30:00 CET (2026-01-15 23:30:00 UTC)"
    )
    assert team_time.clock_label() == "Europe/Berlin" and team_time.clock(DEADLINE) == "00:30:00"


def test_a_zone_this_machine_does_not_know_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETS_TIMEZONE", "Europe/Berlni")
    with pytest.raises(ConfigError) as refused:
        team_time.team_zone()
    assert str(refused.value).startswith("TICKETS_TIMEZONE: unknown time zone 'Europe/Berlni'")
