"""Business hours: SLA hours counted only while the support team works.

Configured in the pipeline file's ``[business_hours]`` table (docs/lifecycle.md, "SLA in
business hours"); without it an SLA runs around the clock, as before. The deadline is computed in
workflow code, which must not read the time-zone database (file I/O, and a database upgraded
under a running ticket would move its deadline on replay): the configuration snapshot, a local
activity, records the zone's UTC offsets around the ticket's start (``with_offsets``), and
``business_deadline`` walks the calendar in UTC with them. Pure: no clock, no I/O.
"""

from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final[tuple[Weekday, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A deadline is at most this many weeks of calendar away (checked when the worker loads the
# configuration: shared/settings.py), so the walk below ends within a bounded number of days.
MAX_SPAN_WEEKS: Final = 520
MAX_DAYS_WALKED: Final = 7 * (MAX_SPAN_WEEKS + 1)
MAX_HOLIDAYS: Final = 1_000
# The zone's offsets recorded per snapshot: a year before the start to the longest span after.
MAX_OFFSET_CHANGES: Final = 64


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
    # Written by the configuration snapshot, never by hand: the zone's offsets around the
    # ticket's start, oldest first. None: not recorded (UTC is assumed).
    offsets: list[OffsetChange] | None = Field(default=None, max_length=MAX_OFFSET_CHANGES)

    @model_validator(mode="after")
    def _a_working_day_has_hours(self) -> "BusinessHours":
        if self.open.tzinfo is not None or self.close.tzinfo is not None:
            raise ValueError("business_hours.open and close are wall-clock times, without a zone")
        if self.close <= self.open:
            raise ValueError(
                f"business_hours.close ({self.close:%H:%M}) must be after business_hours.open "
                f"({self.open:%H:%M})"
            )
        if len(set(self.days)) != len(self.days):
            raise ValueError("business_hours.days names a day twice")
        return self

    def hours_a_day(self) -> float:
        opened = datetime.combine(date.min, self.open)
        return (datetime.combine(date.min, self.close) - opened) / timedelta(hours=1)

    def span_weeks(self, hours: float) -> int:
        """The most weeks of calendar ``hours`` of business time can take from any start:
        whole weeks of open days, one more for a start just after a week's last close, and
        one per holiday (each may close a day the count needed)."""
        weekly = self.hours_a_day() * len(self.days)
        return int(-(-hours // weekly)) + 1 + len(self.holidays)


def longest_span(calendar: BusinessHours, hours: float) -> tuple[timedelta, Weekday]:
    """The most calendar time ``hours`` of business time take, holidays and clock changes left
    out, and the day whose close starts it (the worst starts are at a close)."""
    plain = calendar.model_copy(update={"holidays": [], "offsets": None})
    monday = date(2024, 1, 1)  # any week
    spans = []
    for day in calendar.days:
        start = datetime.combine(monday + timedelta(days=WEEKDAYS.index(day)), calendar.close, UTC)
        spans.append((business_deadline(start, hours, plain) - start, day))
    return max(spans, key=lambda span: span[0])


def business_deadline(start: datetime, hours: float, calendar: BusinessHours) -> datetime:
    """The moment ``hours`` of business time after ``start`` (an aware datetime): time passes
    only on the calendar's days, between its open and close, not on its holidays."""
    left = timedelta(hours=hours)
    start = start.astimezone(UTC)
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
        """A local wall-clock time as UTC: the offset in effect then (in a gap or an overlap
        at a change, the offset before it)."""
        as_if_utc = wall.replace(tzinfo=UTC)
        return as_if_utc - self.at(as_if_utc - self.at(as_if_utc))
