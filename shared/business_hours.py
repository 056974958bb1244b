"""Business hours: SLA hours counted only while the support team works.

Configured in the pipeline file's ``[business_hours]`` table (docs/lifecycle.md, "SLA in
business hours"); without it an SLA runs around the clock, as before. The deadline is computed in
workflow code, which must not read the time-zone database (file I/O, and a database upgraded
under a running ticket would move its deadline on replay): the configuration snapshot, a local
activity, records the zone's UTC offsets around the ticket's start (``with_offsets``), and
``business_deadline`` walks the calendar in UTC with them. Pure: no clock, no I/O.
"""

import math
from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from shared.tickets import CustomerTier

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final[tuple[Weekday, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# An SLA takes at most this many weeks of open days (checked when the worker loads the
# configuration: shared/settings.py).
MAX_SPAN_WEEKS: Final = 520
MAX_HOLIDAYS: Final = 1_000
# The zone's offsets recorded per snapshot: a year before the start to the longest span after.
MAX_OFFSET_CHANGES: Final = 128
# So the walk below ends within a bounded number of days: the weeks above, and a week more for
# each holiday and each clock change (either can take one open day's hours away).
MAX_DAYS_WALKED: Final = 7 * (MAX_SPAN_WEEKS + 1 + MAX_HOLIDAYS + MAX_OFFSET_CHANGES)
# A start before this is taken as this: a memo's first intake set outside the project may say
# the year 1, and the walk must not leave the calendar (the deadline is long past either way).
EARLIEST_START: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Any week, for the spans of a week without holidays (a configuration's are decades later).
REFERENCE_MONDAY: Final = date(1973, 1, 1)


class OffsetChange(BaseModel):
    """From ``at`` (UTC) on, the zone's wall clock is ``seconds`` ahead of UTC."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    seconds: int = Field(ge=-86_400, le=86_400)


class BusinessHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # An IANA time zone (Europe/Berlin, America/New_York, UTC); checked against the worker's
    # time-zone database when it loads the configuration.
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    days: list[Weekday] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1, max_length=7
    )
    open: time = time(9)
    close: time = time(17)
    # Days the team is off (local dates): no SLA hour passes on them.
    holidays: list[date] = Field(default_factory=list, max_length=MAX_HOLIDAYS)
    # The customer tiers whose SLA counts in these hours; the others' runs around the clock
    # (an enterprise contract with 24/7 support). None: every tier.
    tiers: list[CustomerTier] | None = Field(
        default=None, min_length=1, max_length=len(CustomerTier)
    )
    # Written by the configuration snapshot, never by hand: the zone's offsets around the
    # ticket's start, oldest first. None: not recorded (UTC is assumed).
    offsets: list[OffsetChange] | None = Field(default=None, max_length=MAX_OFFSET_CHANGES)

    @model_validator(mode="after")
    def _a_working_day_has_hours(self) -> "BusinessHours":
        # Said of [business_hours] by the loader, so named without the table.
        if self.open.tzinfo is not None or self.close.tzinfo is not None:
            raise ValueError("open and close are wall-clock times, without a zone")
        if self.close <= self.open:
            raise ValueError(
                f"close ({self.close.isoformat()}) must be after open ({self.open.isoformat()})"
            )
        if len(set(self.days)) != len(self.days):
            raise ValueError("days names a day twice")
        if self.tiers is not None and len(set(self.tiers)) != len(self.tiers):
            raise ValueError("tiers names a tier twice")
        return self

    @model_serializer(mode="wrap")
    def _every_tier_left_out(self, handler: SerializerFunctionWrapHandler) -> object:
        """A calendar for every tier is serialized as before ``tiers`` existed: a worker of the
        version before reads the snapshot a new ticket records (its model refuses a key it does
        not know)."""
        data = handler(self)
        if isinstance(data, dict) and data.get("tiers", ...) is None:
            del data["tiers"]
        return data

    def applies_to(self, tier: CustomerTier) -> bool:
        return self.tiers is None or tier in self.tiers

    def hours_a_day(self) -> float:
        opened = datetime.combine(date.min, self.open)
        return (datetime.combine(date.min, self.close) - opened) / timedelta(hours=1)

    def span_weeks(self, hours: float) -> int:
        """The most weeks of open days ``hours`` of business time take from any start: whole
        weeks, and one more for a start just after a week's last close (holidays and clock
        changes come on top: MAX_DAYS_WALKED)."""
        weekly = self.hours_a_day() * len(self.days)
        return int(-(-hours // weekly)) + 1

    def closed_holidays(self) -> list[date]:
        """The holidays that close an open day, each once, in order."""
        open_days = {WEEKDAYS.index(day) for day in self.days}
        return sorted({day for day in self.holidays if day.weekday() in open_days})


def longest_span(calendar: BusinessHours, hours: float) -> tuple[timedelta, date]:
    """The most calendar time ``hours`` of business time take, in the zone's standard time,
    and the working day whose close starts it (a start in closed time waits for an opening as
    a start at the close before it does, so the worst starts are at a close). ``hours`` end on
    the k-th working day after the start's, k their whole days rounded up: the longest span is
    that of the working days furthest apart, in a week without holidays or around the holidays.
    For the worker's start-up, not for workflow code (a list of every day of the holidays'
    years)."""
    daily = timedelta(hours=calendar.hours_a_day())
    k = max(1, math.ceil(timedelta(hours=hours) / daily - 1e-9))
    remainder = timedelta(hours=hours) - daily * (k - 1)
    weeks = timedelta(weeks=calendar.span_weeks(hours) + 1)
    holidays = calendar.closed_holidays()
    stretches = [(REFERENCE_MONDAY, REFERENCE_MONDAY + 2 * weeks)]
    if holidays:
        # A start whose span reaches a holiday is at most the span without holidays and a week
        # per holiday before it.
        reach = weeks + timedelta(weeks=len(holidays))
        stretches.append((holidays[0] - reach, holidays[-1] + reach))
    open_days = {WEEKDAYS.index(day) for day in calendar.days}
    closed = set(holidays)
    spans = []
    for first, last in stretches:
        working = [
            day
            for day in (first + timedelta(days=n) for n in range((last - first).days + 1))
            if day.weekday() in open_days and day not in closed
        ]
        for start, end in zip(working, working[k:], strict=False):
            span = datetime.combine(end, calendar.open) + remainder
            spans.append((span - datetime.combine(start, calendar.close), start))
    # Among equal spans the latest weekday (Friday's close, not Tuesday's: the same 312 hours).
    return max(spans, key=lambda span: (span[0], span[1].weekday()))


def business_deadline(start: datetime, hours: float, calendar: BusinessHours) -> datetime:
    """The moment ``hours`` of business time after ``start`` (an aware datetime): time passes
    only on the calendar's days, between its open and close, not on its holidays."""
    left = timedelta(hours=hours)
    start = max(start.astimezone(UTC), EARLIEST_START)
    open_days = {WEEKDAYS.index(day) for day in calendar.days}
    holidays = set(calendar.holidays)
    zone = _Offsets(calendar.offsets or [])
    day = (start + zone.at(start)).date()
    closes = start
    for _ in range(MAX_DAYS_WALKED):
        if day.weekday() in open_days and day not in holidays:
            opens = zone.utc(datetime.combine(day, calendar.open))
            closes = zone.utc(datetime.combine(day, calendar.close))
            begin = max(opens, start)
            if closes > begin:
                if closes - begin >= left:
                    return begin + left
                left -= closes - begin
        day += timedelta(days=1)
    # Not reached with a configuration the worker loaded (span_weeks is checked there): the last
    # close walked, rather than a workflow task failing for good.
    return max(closes, start)


class _Offsets:
    def __init__(self, changes: list[OffsetChange]) -> None:
        self._moments = [change.at for change in changes]
        self._seconds = [change.seconds for change in changes]

    def at(self, moment: datetime) -> timedelta:
        """The offset in effect at ``moment`` (before the first change recorded: the first's;
        none recorded: UTC)."""
        if not self._seconds:
            return timedelta(0)
        i = bisect_right(self._moments, moment)
        return timedelta(seconds=self._seconds[max(i - 1, 0)])

    def utc(self, wall: datetime) -> datetime:
        """A local wall-clock time as UTC, as zoneinfo reads it (fold 0): in an overlap at a
        change the first of the two moments, in a gap the offset from before it."""
        as_if_utc = wall.replace(tzinfo=UTC)
        before = self.at(as_if_utc - timedelta(days=1))
        after = self.at(as_if_utc + timedelta(days=1))
        for offset in (before, after):
            if self.at(as_if_utc - offset) == offset:
                return as_if_utc - offset
        return as_if_utc - before
