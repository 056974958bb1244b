"""A batch's settings and state are bounded where a value past the bound broke the workflow: a
program that builds them with such a value is refused by name, before anything starts."""

import pytest
from pydantic import ValidationError

from shared.batch import BatchSettings, BatchState


@pytest.mark.parametrize("seconds", [1e12, float("inf"), float("nan"), 0.5])
def test_a_check_interval_a_timer_cannot_hold_is_refused_naming_the_field(seconds: float) -> None:
    with pytest.raises(ValidationError, match="check_after_seconds"):
        BatchSettings(check_after_seconds=seconds)


def test_a_negative_position_is_refused() -> None:
    with pytest.raises(ValidationError, match="position"):
        BatchState(position=-1)
    assert BatchState(position=0).position == 0
    assert BatchSettings(check_after_seconds=86_400).check_after_seconds == 86_400
