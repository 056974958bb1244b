"""SLA hours counted in business hours (shared/business_hours.py): the deadline walks the
team's days, opening hours, holidays and the zone's clock changes, with the offsets the
configuration snapshot records (shared/business_hours_zone.py)."""

import json
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment

from activities.knowledge_base import KnowledgeBase
from activities.ticket_activities import TicketActivities
from policy.sla import sla_deadline
from shared.agents import Priority
from shared.business_hours import BusinessHours, business_deadline, longest_span
from shared.business_hours_zone import snapshot, zone_problem
from shared.payload_converter import SharedPydanticPayloadConverter
from shared.pipeline_config import PipelineConfig
from shared.settings import load_pipeline_config
from shared.tickets import CustomerTier
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


def test_the_longest_span_starts_at_a_close_and_counts_the_holidays() -> None:
    """72 business hours of 8 a day, five days a week: nine open days, 13 calendar days from a
    Friday's close (312 hours). Over Christmas, 17: from Friday the 11th's close, the 24th and
    25th closed. Escalated at the 17th day, a ticket the final deadline closed at the 13th's
    would close unanswered the moment it is escalated."""
    assert longest_span(BusinessHours(), 72) == (timedelta(hours=312), date(1973, 1, 5))
    assert longest_span(WEEKDAYS_IN_BERLIN, 72) == (timedelta(days=17), date(2026, 12, 11))
    assert business_deadline(berlin(2026, 12, 11, 17), 72, WEEKDAYS_IN_BERLIN) == berlin(
        2026, 12, 28, 17
    )
    one_day = BusinessHours(days=["wed"], open=time(10), close=time(12))
    assert longest_span(one_day, 2) == (timedelta(days=7), date(1973, 1, 3))


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
        ({"open": time(17), "close": time(9)}, "close (09:00:00) must be after open (17:00:00)"),
        ({"open": time(9, 0, 30), "close": time(9, 0, 10)}, "close (09:00:10) must be after"),
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
        "[review]\nfinal_deadline_hours = 520\n\n[business_hours]\n"
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
    final review deadline raised past the 456 hours 72 business hours and a working day more
    take from Friday 2026-12-18's close over its holidays), the worker takes it."""
    bundled = (Path(__file__).parents[2] / "config" / "pipeline.toml").read_text()
    example = bundled.split("# [business_hours]\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.removeprefix("# ") for line in example.splitlines()]
    text = bundled.replace("final_deadline_hours = 168", "final_deadline_hours = 460")
    path = write_config(tmp_path, text + "\n[business_hours]\n" + "\n".join(lines) + "\n")
    calendar = load_pipeline_config(path, env={}).business_hours
    assert calendar is not None and calendar.timezone == "Europe/Berlin"
    assert calendar.days == ["mon", "tue", "wed", "thu", "fri"] and len(calendar.holidays) == 3
    assert calendar.tiers == ["free", "standard", "premium"]


ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "America/Havana",  # its clock changes at midnight: a day's opening can fall in the gap
    "Asia/Kolkata",
    "Australia/Adelaide",
    "Australia/Lord_Howe",  # a half-hour change
    "Pacific/Chatham",
    "America/Santiago",
]


def reference_deadline(start: datetime, hours: float, calendar: BusinessHours) -> datetime:
    """The same walk on zoneinfo's own clock (fold 0), day by day."""
    zone = ZoneInfo(calendar.timezone)
    left = timedelta(hours=hours)
    day = start.astimezone(zone).date()
    open_days = {["mon", "tue", "wed", "thu", "fri", "sat", "sun"].index(d) for d in calendar.days}
    while True:
        if day.weekday() in open_days and day not in calendar.holidays:
            opens = datetime.combine(day, calendar.open, zone).astimezone(UTC)
            closes = datetime.combine(day, calendar.close, zone).astimezone(UTC)
            begin = max(opens, start)
            if closes > begin:
                if closes - begin >= left:
                    return begin + left
                left -= closes - begin
        day += timedelta(days=1)


def test_the_walk_matches_the_zone_database_over_clock_changes_in_many_zones() -> None:
    """Random calendars, starts and SLAs in zones east and west of UTC, north and south, with
    half-hour offsets and changes at midnight, against zoneinfo itself: the recorded offsets
    must give the same moments, openings in a gap or an overlap included."""
    rng = random.Random(12)
    for case in range(400):
        zone = ZONES[case % len(ZONES)]
        opening = rng.choice([0, 1, 2, 3, 8, 9, 23]) * 60 + rng.choice([0, 30])
        closing = min(opening + rng.choice([30, 60, 120, 480, 900]), 23 * 60 + 59)
        days = sorted(rng.sample(range(7), rng.randint(1, 7)))
        start = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 800_000))
        calendar = recorded(
            BusinessHours(
                timezone=zone,
                days=[["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d] for d in days],
                open=time(opening // 60, opening % 60),
                close=time(closing // 60, closing % 60),
                holidays=[start.date() + timedelta(days=rng.randint(0, 30)) for _ in range(3)],
            ),
            start,
        )
        hours = rng.choice([0.25, 1, 4, 8, 24, 72])
        assert business_deadline(start, hours, calendar) == reference_deadline(
            start, hours, calendar
        ), (zone, calendar, start, hours)


def test_openings_in_a_clock_change_s_gap_do_not_end_the_walk_early() -> None:
    """Open 02:00-03:00 on Sundays in Berlin: the Sunday summer time begins has no such hour.
    519 business hours are ten years of Sundays and one more; the walk ran out of days (its
    bound counted every open day as a whole one) and returned a deadline two months early."""
    config = PipelineConfig(
        sla_hours={Priority.LOW: 519},
        review={"final_deadline_hours": 0},
        business_hours=BusinessHours(
            timezone="Europe/Berlin", days=["sun"], open=time(2), close=time(3)
        ),
    )
    start = datetime(2026, 12, 6, 1, tzinfo=UTC)  # Sunday 02:00 in Berlin
    calendar = snapshot(config, start).business_hours
    assert calendar is not None
    assert business_deadline(start, 519, calendar) == reference_deadline(start, 519, calendar)


def test_a_start_before_the_calendar_s_earliest_is_taken_as_that() -> None:
    """A memo's first intake set outside the project may say the year 1: west of UTC the walk
    left the calendar (OverflowError), failing the workflow task over and over."""
    calendar = recorded(
        BusinessHours(timezone="America/New_York"), datetime(2026, 12, 2, tzinfo=UTC)
    )
    deadline = business_deadline(datetime(1, 1, 1, tzinfo=UTC), 1, calendar)
    assert datetime(1970, 1, 1, tzinfo=UTC) < deadline < datetime(2026, 12, 2, tzinfo=UTC)


@pytest.mark.parametrize("name", ["localtime", "Factory", "posixrules", "Europe/", ""])
def test_a_database_file_that_is_not_a_zone_is_refused(name: str) -> None:
    assert zone_problem(name) is not None


def test_the_longest_span_is_the_longest_walk_from_any_close() -> None:
    """longest_span counts working days; the walk from every close of two years (holidays in
    the middle of them) must find none longer, and the one it names."""
    rng = random.Random(7)
    for _ in range(40):
        days = sorted(rng.sample(range(7), rng.randint(1, 6)))
        calendar = BusinessHours(
            days=[["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d] for d in days],
            open=time(rng.choice([7, 9])),
            close=time(rng.choice([12, 17, 18]), rng.choice([0, 30])),
            holidays=[date(2027, 1, 1) + timedelta(days=rng.randint(0, 200)) for _ in range(8)],
        )
        hours = rng.choice([1, 5, 8, 24, 40, 72])
        span, day = longest_span(calendar, hours)
        walked = []
        for n in range(730):
            start = datetime.combine(date(2026, 7, 1) + timedelta(days=n), calendar.close, UTC)
            walked.append(business_deadline(start, hours, calendar) - start)
        assert max(walked) <= span, (calendar, hours)
        start = datetime.combine(day, calendar.close, UTC)
        assert business_deadline(start, hours, calendar) - start == span, (calendar, hours)


def test_a_snapshot_without_a_calendar_is_what_an_earlier_worker_reads() -> None:
    """Workers refuse a configuration key they do not know: every ticket's snapshot carried
    "business_hours": null, and a worker of the version before (a rolling deploy, a rollback)
    failed the workflow tasks of every ticket a new worker had started."""

    converter = SharedPydanticPayloadConverter()
    payload = converter.to_payloads([PipelineConfig()])[0]
    assert b"business_hours" not in payload.data
    fields = json.loads(payload.data)
    assert set(fields) == set(PipelineConfig.model_fields) - {"business_hours"}
    (read,) = converter.from_payloads([payload], [PipelineConfig])
    assert read == PipelineConfig()

    with_calendar = PipelineConfig(business_hours=BusinessHours(timezone="Europe/Berlin"))
    payload = converter.to_payloads([with_calendar])[0]
    assert json.loads(payload.data)["business_hours"]["timezone"] == "Europe/Berlin"
    assert converter.from_payloads([payload], [PipelineConfig]) == [with_calendar]


async def test_the_worker_s_snapshot_activity_records_the_offsets_off_the_event_loop() -> None:
    """The real local activity (not the tests' fake): a calendar comes back with the zone's
    offsets around now; a configuration without one comes back as it is."""
    calendar = BusinessHours(timezone="America/New_York")
    with_calendar = TicketActivities(PipelineConfig(business_hours=calendar), KnowledgeBase([], {}))
    taken = await ActivityEnvironment().run(with_calendar.load_pipeline_config)
    assert taken.business_hours is not None and taken.business_hours.offsets
    now = datetime.now(UTC)
    assert taken.business_hours.offsets[0].at < now - timedelta(days=360)
    assert taken.business_hours.offsets[-1].at > now  # the next change of summer time
    assert {change.seconds for change in taken.business_hours.offsets} == {-5 * 3600, -4 * 3600}

    plain = PipelineConfig()
    without = TicketActivities(plain, KnowledgeBase([], {}))
    assert await ActivityEnvironment().run(without.load_pipeline_config) is plain


def test_a_calendar_for_some_tiers_leaves_the_others_around_the_clock() -> None:
    calendar = BusinessHours(timezone="Europe/Berlin", tiers=[CustomerTier.FREE])
    config = PipelineConfig(business_hours=calendar)
    assert config.calendar_for(CustomerTier.FREE) == calendar
    assert config.calendar_for(CustomerTier.ENTERPRISE) is None
    every = PipelineConfig(business_hours=BusinessHours(timezone="Europe/Berlin"))
    assert all(every.calendar_for(tier) is not None for tier in CustomerTier)
    assert all(PipelineConfig().calendar_for(tier) is None for tier in CustomerTier)
    # The snapshot keeps the tiers with the offsets it records.
    taken = snapshot(config, berlin(2026, 12, 23, 12))
    assert taken.business_hours is not None and taken.business_hours.tiers == [CustomerTier.FREE]
    assert taken.calendar_for(CustomerTier.PREMIUM) is None


def test_a_calendar_for_every_tier_is_serialized_as_before_tiers_existed() -> None:
    """A worker of the version before refuses a key it does not know: a snapshot of a calendar
    for every tier carries no `tiers`, so it reads the tickets a new worker started."""
    converter = SharedPydanticPayloadConverter()
    every = PipelineConfig(business_hours=BusinessHours(timezone="Europe/Berlin"))
    payload = converter.to_payloads([every])[0]
    assert set(json.loads(payload.data)["business_hours"]) == set(BusinessHours.model_fields) - {
        "tiers"
    }
    assert converter.from_payloads([payload], [PipelineConfig]) == [every]
    some = PipelineConfig(
        business_hours=BusinessHours(timezone="Europe/Berlin", tiers=[CustomerTier.PREMIUM])
    )
    payload = converter.to_payloads([some])[0]
    assert json.loads(payload.data)["business_hours"]["tiers"] == ["premium"]
    assert converter.from_payloads([payload], [PipelineConfig]) == [some]
