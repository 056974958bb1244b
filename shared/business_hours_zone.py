"""The time-zone database's side of business hours (shared/business_hours.py): checking a zone's
name when the worker loads its configuration, and recording the zone's UTC offsets into each
configuration snapshot (a local activity). Reads files: never imported by workflow code."""

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, available_timezones

from shared.business_hours import (
    MAX_OFFSET_CHANGES,
    MAX_SPAN_WEEKS,
    REFERENCE_MONDAY,
    OffsetChange,
    longest_span,
)
from shared.pipeline_config import PipelineConfig

# Recorded from this long before the snapshot (a ticket started again counts its SLA from when
# the customer first wrote) to the longest SLA's span after it, and this much more (a triage
# held up by a long rate-limit spell).
BEFORE: Final = timedelta(days=366)
DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# File names of the time-zone database that are not zones of their own.
NOT_ZONES: Final = frozenset({"localtime", "Factory", "posixrules", "posix", "right"})
# A worst start after the reference week is one just before the configured holidays.
FAR_FROM_HOLIDAYS: Final = REFERENCE_MONDAY + timedelta(weeks=1)
AFTER_THE_SPAN: Final = timedelta(days=366)


def zone_problem(name: str) -> str | None:
    """Why the worker cannot use this zone (None: it can). The database's own file names that
    are not zones (``localtime``: whatever the host is set to) are refused too."""
    if name not in NOT_ZONES and name in _zones():
        return None
    return (
        f"unknown time zone {name[:64]!r}: give an IANA name such as Europe/Berlin, "
        "America/New_York or UTC"
    )


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def config_problem(config: PipelineConfig) -> tuple[tuple[str, ...], str] | None:
    """What makes a configuration's business hours unusable, and the key it is said of (checked
    when the worker loads it, not in the model: a ticket's snapshot is read back with it)."""
    calendar = config.business_hours
    if calendar is None:
        return None
    if calendar.offsets is not None:
        return ("business_hours", "offsets"), "is recorded by the worker, not set in the file"
    if problem := zone_problem(calendar.timezone):
        return ("business_hours", "timezone"), problem
    slowest, longest = max(config.sla_hours.items(), key=lambda item: item[1])
    if calendar.span_weeks(longest) > MAX_SPAN_WEEKS:
        return (
            ("sla_hours", str(slowest)),
            f"{longest:g} business hours ({calendar.hours_a_day():.4g} a day on "
            f"{len(calendar.days)} day(s) a week) take more than {MAX_SPAN_WEEKS // 52} years",
        )
    final = config.review.final_deadline_hours
    # The slowest SLA and a working day more: a deadline just past the SLA's alone (accepted
    # until 2026-12-07) closed a ticket escalated at a Thursday's close two hours later, at
    # night, with no working time for anyone to answer it.
    span, worst = longest_span(calendar, longest + calendar.hours_a_day())
    # An hour more for a change of summer time inside the span.
    if final and timedelta(hours=final) <= span + timedelta(hours=1):
        day = DAY_NAMES[worst.weekday()]
        at = f"a {day}'s close" if worst < FAR_FROM_HOLIDAYS else f"{day} {worst}'s close"
        return (
            ("review", "final_deadline_hours"),
            f"{final:g} hours is not longer than the longest SLA can take in business hours "
            f"and one working day more (sla_hours.{slowest}, {longest:g} business hours, and "
            f"{calendar.hours_a_day():g}: {span / timedelta(hours=1):g} hours from {at}, and "
            "an hour for a change of summer time), so a ticket escalated then would close "
            "unanswered before anyone had a working day to answer it; make it longer, or 0 to "
            "turn the final deadline off",
        )
    return None


def snapshot(config: PipelineConfig, moment: datetime) -> PipelineConfig:
    """The configuration a ticket records: with business hours, the zone's offsets around
    ``moment`` written in, for the workflow to count business time without the database."""
    calendar = config.business_hours
    if calendar is None:
        return config
    longest = max(config.sla_hours.values())
    weeks = calendar.span_weeks(longest) + len(calendar.closed_holidays())
    offsets = _offsets(calendar.timezone, moment.astimezone(UTC).date(), weeks)
    return config.model_copy(
        update={"business_hours": calendar.model_copy(update={"offsets": list(offsets)})}
    )


@lru_cache(maxsize=64)
def _offsets(timezone: str, day: date, span_weeks: int) -> tuple[OffsetChange, ...]:
    """Every change of the zone's offset from BEFORE ``day`` to its span after (computed once a
    day per zone: the snapshot is taken for every ticket)."""
    zone = ZoneInfo(timezone)
    begin = datetime.combine(day, datetime.min.time(), UTC) - BEFORE
    end = begin + BEFORE + timedelta(weeks=span_weeks) + AFTER_THE_SPAN

    def offset(moment: datetime) -> int:
        utc_offset = moment.astimezone(zone).utcoffset()
        return int(utc_offset.total_seconds()) if utc_offset is not None else 0

    changes = [OffsetChange(at=begin, seconds=offset(begin))]
    moment = begin
    while moment < end and len(changes) < MAX_OFFSET_CHANGES:
        following = moment + timedelta(days=1)
        if offset(following) != offset(moment):
            # The change's second, between the two days.
            low, high = moment, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == offset(low) else (low, middle)
            changes.append(OffsetChange(at=high.replace(microsecond=0), seconds=offset(high)))
        moment = following
    return tuple(changes)
