"""The command-line client's times in the team's zone (TICKETS_TIMEZONE), UTC beside them; the
same text as before without it. The variable is read at each call."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.config_errors import ConfigError
from shared.pending_calls import PendingCall, describe_call
from starter import render, team_time

DEADLINE = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)


def test_without_a_zone_times_read_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETS_TIMEZONE", raising=False)
    closed = DEADLINE - timedelta(hours=1)
    assert render.deadline_text(DEADLINE, True, closed) == "2026-01-15 23:30 UTC (met)"
    assert team_time.clock_label() == "At (UTC)" and team_time.clock(DEADLINE) == "23:30:00"


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
    with_seconds = "2026-01-16 00:30:00 CET (2026-01-15 23:30:00 UTC)"
    assert team_time.at(DEADLINE, seconds=True) == with_seconds
    # A transition's time in the status table: its date may be another than UTC's.
    assert team_time.clock_label() == "At" and team_time.clock(DEADLINE) == with_seconds


def test_a_zone_this_machine_does_not_know_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETS_TIMEZONE", "Europe/Berlni")
    with pytest.raises(ConfigError) as refused:
        team_time.team_zone()
    assert str(refused.value).startswith("TICKETS_TIMEZONE: unknown time zone 'Europe/Berlni'")


def test_the_zone_is_read_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETS_TIMEZONE", "Asia/Tokyo")
    assert team_time.team_zone() == "Asia/Tokyo"
    monkeypatch.delenv("TICKETS_TIMEZONE")
    assert team_time.team_zone() == "UTC" and not team_time.zoned()


def test_a_waiting_call_s_next_attempt_reads_in_the_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETS_TIMEZONE", "Europe/Berlin")
    call = PendingCall(
        activity="draft_resolution",
        task_queue="llm-openai",
        attempt=3,
        running=False,
        next_attempt=DEADLINE,
    )
    assert "at 23:30:00 UTC" in describe_call(call)[0]  # the default: UTC, as before
    zoned, _ = describe_call(call, lambda t: team_time.at(t, seconds=True))
    assert "next attempt (3) at 2026-01-16 00:30:00 CET (2026-01-15 23:30:00 UTC)" in zoned
