"""SLA deadlines from priorities, time left until them, and priorities as Temporal keys."""

from datetime import UTC, datetime, timedelta

import pytest

from policy.priority import PRIORITY_KEYS, priority_key
from policy.sla import sla_deadline, time_left
from shared.agents import Priority
from shared.pipeline_config import PipelineConfig

START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("priority", "hours"),
    [
        (Priority.LOW, 72),
        (Priority.MEDIUM, 24),
        (Priority.HIGH, 4),
        (Priority.URGENT, 1),
    ],
)
def test_the_default_deadline_follows_the_priority(priority: Priority, hours: int) -> None:
    deadline = sla_deadline(priority, START, PipelineConfig().sla_hours)
    assert deadline == START + timedelta(hours=hours)


def test_custom_hours_set_the_deadline() -> None:
    hours = {Priority.URGENT: 0.5, Priority.LOW: 168}
    assert sla_deadline(Priority.URGENT, START, hours) == START + timedelta(minutes=30)
    assert sla_deadline(Priority.LOW, START, hours) == START + timedelta(days=7)


def test_time_left_before_the_deadline_is_the_difference() -> None:
    deadline = START + timedelta(hours=4)
    assert time_left(deadline, START + timedelta(hours=1)) == timedelta(hours=3)


def test_no_time_is_left_at_the_deadline() -> None:
    assert time_left(START, START) == timedelta(0)


def test_time_left_is_never_negative_after_the_deadline() -> None:
    assert time_left(START, START + timedelta(days=2)) == timedelta(0)


def test_an_urgent_ticket_has_the_lowest_priority_key() -> None:
    assert priority_key(Priority.URGENT) == 1
    assert priority_key(Priority.URGENT) == min(PRIORITY_KEYS.values())


def test_more_pressing_priorities_get_lower_keys() -> None:
    keys = [
        priority_key(p) for p in (Priority.URGENT, Priority.HIGH, Priority.MEDIUM, Priority.LOW)
    ]
    assert keys == [1, 2, 3, 4]


def test_every_priority_has_a_key_in_temporals_default_range() -> None:
    for priority in Priority:
        key = priority_key(priority)
        assert key is not None
        assert 1 <= key <= 5


def test_before_triage_there_is_no_priority_key() -> None:
    assert priority_key(None) is None
