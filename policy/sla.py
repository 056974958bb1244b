"""SLA arithmetic: deadlines from priorities, time left until them."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from shared.agents import Priority
from shared.business_hours import EARLIEST_START, BusinessHours, business_deadline


def sla_deadline(
    priority: Priority,
    start: datetime,
    hours: Mapping[Priority, float],
    calendar: BusinessHours | None = None,
) -> datetime:
    """The moment by which a ticket of this priority must have a human answer if it needs one:
    its SLA's hours after ``start``, counted in ``calendar``'s business hours when one is set."""
    if calendar is not None:
        return business_deadline(start, hours[priority], calendar)
    return start + timedelta(hours=hours[priority])


def time_left(deadline: datetime, now: datetime) -> timedelta:
    """Never negative: a deadline in the past leaves zero time."""
    return max(deadline - now, timedelta(0))


def earlier_intake(value: object) -> datetime | None:
    """When the customer first wrote, as a starter put it in a restarted ticket's memo (an ISO
    8601 time with its zone); None for anything else (a memo value set outside the project must
    not fail the ticket)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        # Before 1970 is no intake this project made, and the first days of year 1 in a zone
        # east of UTC do not convert to UTC at all: OverflowError in the business-hours
        # arithmetic failed every workflow task, the ticket stuck (a review, 2026-12-07).
        if parsed.tzinfo is None or parsed.astimezone(UTC) < EARLIEST_START:
            return None
    except (ValueError, OverflowError):
        return None
    return parsed
