"""SLA hours counted in business hours (shared/business_hours.py): the deadline walks the
team's days, opening hours, holidays and the zone's clock changes, with the offsets the
configuration snapshot records (shared/business_hours_zone.py)."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from policy.sla import sla_deadline
from shared.agents import Priority
from shared.business_hours import BusinessHours, business_deadline, longest_span
from shared.business_hours_zone import snapshot, zone_problem
from shared.pipeline_config import PipelineConfig
from shared.settings import load_pipeline_config
from tests.support.config_files import write_config

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=BERLIN).astimezone(UTC)  # type: ignore[misc]


def recorded(calendar: BusinessHours, at: datetime) -> BusinessHours:
    """The calendar as a ticket's configuration snapshot records it."""
    config = snapshot(PipelineConfig(business_hours=calendar), at)
    assert config.business_hours is not None
    return config.business_hours


WEEKDAYS_IN_BERLIN = recorded(
    BusinessHours(timezone="Europe/Berlin", holidays=[date(2026, 12, 24), date(2026, 12, 25)]),
    berlin(2026, 12, 1, 12),
)


@pytest.mark.parametrize(
    ("start", "hours", "deadline"),
    [
        pytest.param(berlin(2026, 12, 2, 10), 4, berlin(2026, 12, 2, 14), id="within-a-day"),
        pytest.param(berlin(2026, 12, 2, 15), 4, berlin(2026, 12, 3, 11), id="over-a-night"),
        pytest.param(berlin(2026, 12, 4, 16), 4, berlin(2026, 12, 7, 12), id="over-a-weekend"),
        pytest.param(berlin(2026, 12, 5, 23), 1, berlin(2026, 12, 7, 10), id="from-a-saturday"),
        pytest.param(berlin(2026, 12, 2, 6), 0.5, berlin(2026, 12, 2, 9, 30), id="before-open"),
        pytest.param(berlin(2026, 12, 2, 17), 8, berlin(2026, 12, 3, 17), id="at-a-close"),
        pytest.param(berlin(2026, 12, 23, 16), 2, berlin(2026, 12, 28, 10), id="over-holidays"),
        pytest.param(berlin(2026, 12, 2, 10), 24, berlin(2026, 12, 7, 10), id="three-days"),
    ],
)
def test_the_deadline_counts_only_open_hours(
    start: datetime, hours: float, deadline: datetime
) -> None:
    assert business_deadline(start, hours, WEEKDAYS_IN_BERLIN) == deadline


def test_the_deadline_keeps_to_the_wall_clock_over_a_change_of_summer_time() -> None:
    """Berlin moves from UTC+1 to UTC+2 on 2027-03-28: Monday's 09:00 is 07:00 UTC, Friday's
    was 08:00 UTC. Counted in UTC without the change, the deadline was an hour late."""
    calendar = recorded(BusinessHours(timezone="Europe/Berlin"), berlin(2027, 3, 26, 12))
    assert datetime(2027, 3, 28, 1, tzinfo=UTC) in [c.at for c in calendar.offsets or []]
    friday = berlin(2027, 3, 26, 16)
    assert friday == datetime(2027, 3, 26, 15, tzinfo=UTC)
    assert business_deadline(friday, 2, calendar) == datetime(2027, 3, 29, 8, tzinfo=UTC)


def test_a_zone_west_of_utc_counts_its_own_day() -> None:
    """16:00 in New York is 21:00 UTC: the deadline is the next morning there, not two hours
    later by UTC's clock."""
    calendar = recorded(
        BusinessHours(timezone="America/New_York"), datetime(2026, 12, 2, tzinfo=UTC)
    )
    start = datetime(2026, 12, 2, 21, tzinfo=UTC)  # Wednesday 16:00 EST
    assert business_deadline(start, 2, calendar) == datetime(2026, 12, 3, 15, tzinfo=UTC)


def test_the_sla_deadline_follows_the_calendar_only_when_one_is_set() -> None:
    hours = PipelineConfig().sla_hours
    start = berlin(2026, 12, 4, 16)  # a Friday afternoon
    assert sla_deadline(Priority.HIGH, start, hours) == start + timedelta(hours=4)
    assert sla_deadline(Priority.HIGH, start, hours, WEEKDAYS_IN_BERLIN) == berlin(2026, 12, 7, 12)


def test_the_longest_span_starts_at_a_close() -> None:
    """72 business hours of 8 a day, five days a week: nine open days, 13 calendar days from
    a close (312 hours), whatever the holidays and the zone."""
    span, day = longest_span(WEEKDAYS_IN_BERLIN, 72)
    assert span == timedelta(hours=312) and day == "tue"
    one_day = BusinessHours(days=["wed"], open=time(10), close=time(12))
    assert longest_span(one_day, 2) == (timedelta(days=7), "wed")


def test_a_snapshot_records_the_offsets_and_a_config_without_a_calendar_is_kept_as_it_is() -> None:
    plain = PipelineConfig()
    assert snapshot(plain, datetime(2026, 12, 1, tzinfo=UTC)) is plain
    calendar = WEEKDAYS_IN_BERLIN
    assert calendar.offsets is not None and 2 <= len(calendar.offsets) <= 64
    assert [c.seconds for c in calendar.offsets[:3]] == [3600, 7200, 3600]


def test_without_recorded_offsets_the_calendar_is_read_in_utc() -> None:
    calendar = BusinessHours(timezone="UTC")
    start = datetime(2026, 12, 4, 16, tzinfo=UTC)
    assert business_deadline(start, 2, calendar) == datetime(2026, 12, 7, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"open": time(17), "close": time(9)}, "close (09:00) must be after"),
        ({"open": time(9), "close": time(9)}, "close (09:00) must be after"),
        ({"days": []}, "at least 1 item"),
        ({"days": ["mon", "mon"]}, "names a day twice"),
        ({"days": ["monday"]}, "days.0"),
        ({"holidays": [date(2026, 1, 1)] * 1001}, "at most 1000"),
    ],
)
def test_a_calendar_without_working_hours_is_refused(
    fields: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        BusinessHours.model_validate(fields)
    assert fragment in str(caught.value)


def test_a_zone_the_database_does_not_know_is_named() -> None:
    assert zone_problem("Europe/Berlin") is None
    for name in ("Europe/Berlni", "../../etc/passwd", "Mars/Olympus_Mons"):
        problem = zone_problem(name)
        assert problem is not None and problem.startswith(f"unknown time zone {name!r}")


def test_a_file_sets_the_calendar_and_a_ticket_s_snapshot_carries_its_offsets(
    tmp_path: Path,
) -> None:
    path = write_config(
        tmp_path,
        "[review]\nfinal_deadline_hours = 500\n\n[business_hours]\n"
        'timezone = "Europe/Berlin"\ndays = ["mon", "tue", "wed", "thu"]\n'
        "open = 08:30:00\nclose = 16:00:00\nholidays = [2026-12-24]\n",
    )
    config = load_pipeline_config(path, env={})
    assert config.business_hours == BusinessHours(
        timezone="Europe/Berlin",
        days=["mon", "tue", "wed", "thu"],
        open=time(8, 30),
        close=time(16),
        holidays=[date(2026, 12, 24)],
    )
    taken = snapshot(config, berlin(2026, 12, 23, 12)).business_hours
    assert taken is not None and taken.offsets
    # Wednesday 15:00 + 2 h: one hour that day, Thursday the 24th off, Friday closed: Monday.
    assert business_deadline(berlin(2026, 12, 23, 15), 2, taken) == berlin(2026, 12, 28, 9, 30)


def test_the_bundled_file_s_example_loads_once_the_final_deadline_is_raised(
    tmp_path: Path,
) -> None:
    """config/pipeline.toml shows [business_hours] commented out: uncommented as it says (the
    final review deadline raised), the worker takes it."""
    bundled = (Path(__file__).parents[2] / "config" / "pipeline.toml").read_text()
    example = bundled.split("# [business_hours]\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.removeprefix("# ") for line in example.splitlines()]
    text = bundled.replace("final_deadline_hours = 168", "final_deadline_hours = 320")
    path = write_config(tmp_path, text + "\n[business_hours]\n" + "\n".join(lines) + "\n")
    calendar = load_pipeline_config(path, env={}).business_hours
    assert calendar is not None and calendar.timezone == "Europe/Berlin"
    assert calendar.days == ["mon", "tue", "wed", "thu", "fri"] and len(calendar.holidays) == 3
