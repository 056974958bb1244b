"""What the pipeline configuration decides about a ticket, in a few lines: printed by the worker
at start-up and by ``python -m worker --check-config`` (which connects to nothing), so a changed
file is seen doing what was meant before a ticket meets it."""

from datetime import datetime
from zoneinfo import ZoneInfo

from policy.sla import sla_deadline
from shared.agents import Priority
from shared.business_hours import WEEKDAYS, BusinessHours
from shared.business_hours_zone import snapshot
from shared.pipeline_config import PipelineConfig
from shared.tickets import CustomerTier


def policy_lines(config: PipelineConfig, now: datetime) -> list[str]:
    """The SLA (with the calendar it counts in, and each priority's deadline for a ticket
    triaged ``now``), when a person reviews, and the budget."""
    hours = ", ".join(f"{p} {config.sla_hours[p]:g}" for p in Priority)
    calendar = config.business_hours
    if calendar is None:
        lines = [f"  SLA hours  {hours} (around the clock)"]
    else:
        holidays = f", {len(calendar.holidays)} holiday(s)" if calendar.holidays else ""
        lines = [
            f"  SLA hours  {hours} (business hours: {_days(calendar)} "
            f"{calendar.open:%H:%M}-{calendar.close:%H:%M} {calendar.timezone}{holidays}"
            f"{_tiers(calendar)})"
        ]
    taken = snapshot(config, now)  # the offsets a ticket started now records
    zone = ZoneInfo(calendar.timezone) if calendar is not None else None
    # One line per calendar a tier's SLA counts in: the business hours', and around the clock
    # for the tiers left out of them.
    kinds = {taken.calendar_for(tier) is not None for tier in CustomerTier}
    for in_hours in sorted(kinds, reverse=True):
        due = []
        for priority in Priority:
            deadline = sla_deadline(
                priority, now, taken.sla_hours, taken.business_hours if in_hours else None
            )
            local = deadline.astimezone(zone) if zone is not None else deadline
            due.append(f"{priority} {local:%a %Y-%m-%d %H:%M %Z}")
        which = ""
        if len(kinds) > 1:
            tiers = [t for t in CustomerTier if (taken.calendar_for(t) is not None) == in_hours]
            which = f" ({', '.join(tiers)})"
        lines.append(f"  triaged now, due{which}: {'; '.join(due)}")
    review = config.review
    sensitive = ", ".join(review.sensitive_categories) or "none"
    final = (
        f"closes unanswered after {review.final_deadline_hours:g} h"
        if review.final_deadline_hours
        else "has no final deadline"
    )
    lines.append(
        f"  review     below confidence {review.min_confidence:g}"
        f"{', every Urgent ticket' if review.review_urgent else ''}, categories {sensitive}; "
        f"a wait {final}"
    )
    budget = config.budget
    limits = [
        *([f"{budget.max_tokens:,} tokens"] if budget.max_tokens else []),
        *([f"${budget.max_cost_usd:g}"] if budget.max_cost_usd else []),
    ]
    lines.append(f"  budget     {' and '.join(limits) + ' a ticket' if limits else 'none'}")
    return lines


def _tiers(calendar: BusinessHours) -> str:
    """For which tiers, when not every one."""
    if calendar.tiers is None:
        return ""
    others = [t for t in CustomerTier if t not in calendar.tiers]
    return f"; for {', '.join(t for t in CustomerTier if t in calendar.tiers)}" + (
        f", around the clock for {', '.join(others)}" if others else ""
    )


def _days(calendar: BusinessHours) -> str:
    """mon-fri for a run of days in the week's order, else each day."""
    at = sorted(WEEKDAYS.index(day) for day in calendar.days)
    if len(at) > 2 and at == list(range(at[0], at[-1] + 1)):
        return f"{WEEKDAYS[at[0]]}-{WEEKDAYS[at[-1]]}"
    return ",".join(WEEKDAYS[i] for i in at)
