"""A group's refused starts fit one attempt of ``restart_tickets`` when every start is slow:
the activity's start-to-close is at least its own worst case, from its own limits."""

import math

from activities.ticket_activities import RESTART_PAUSES, RESTART_SECONDS, RESTARTS_AT_ONCE
from workflows import options
from workflows.batch import START_GROUP


def test_the_slowest_group_of_restarts_fits_one_attempt() -> None:
    # Each ticket: every try timed out, the pauses between, and the look-up after the last
    # (_took_effect). At 15 minutes every attempt timed out past 13 rounds and began the group
    # again, and after the hour's schedule-to-close the group was never restarted.
    one_ticket = RESTART_SECONDS * (len(RESTART_PAUSES) + 1) + sum(RESTART_PAUSES) + RESTART_SECONDS
    rounds = math.ceil(START_GROUP / RESTARTS_AT_ONCE)
    worst = rounds * one_ticket
    assert options.RESTART_TICKETS_START_TO_CLOSE.total_seconds() >= worst * 1.2, worst
    assert options.RESTART_TICKETS_SCHEDULE_TO_CLOSE > options.RESTART_TICKETS_START_TO_CLOSE
