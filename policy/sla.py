"""SLA arithmetic: deadlines from priorities, time left until them."""

from collections.abc import Mapping
from datetime import datetime, timedelta

from shared.agents import Priority


def sla_deadline(priority: Priority, start: datetime, hours: Mapping[Priority, float]) -> datetime:
    """The moment by which a ticket of this priority must have a human answer if it needs one."""
    return start + timedelta(hours=hours[priority])


def time_left(deadline: datetime, now: datetime) -> timedelta:
    """Never negative: a deadline in the past leaves zero time."""
    return max(deadline - now, timedelta(0))
