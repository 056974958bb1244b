"""A batch's settings and state are bounded where a value past the bound broke the workflow: a
program that builds them with such a value is refused by name, before anything starts."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from shared.batch import MAX_CHECK_SECONDS, BatchSettings, BatchState


@pytest.mark.parametrize("seconds", [1e12, float("inf"), float("nan"), 0.5])
def test_a_check_interval_a_timer_cannot_hold_is_refused_naming_the_field(seconds: float) -> None:
    with pytest.raises(ValidationError, match="check_after_seconds"):
        BatchSettings(check_after_seconds=seconds)


def test_a_negative_position_is_refused() -> None:
    with pytest.raises(ValidationError, match="position"):
        BatchState(position=-1)
    assert BatchState(position=0).position == 0
    assert BatchSettings(check_after_seconds=86_400).check_after_seconds == 86_400


def test_a_batch_started_with_a_check_interval_of_days_is_still_read_on_replay() -> None:
    # A program could start a batch checking every two days before the bound was a day: its
    # input is decoded again on every replay, and the day's bound failed every workflow task.
    converter = pydantic_data_converter.payload_converter
    # As the starter wrote it then: JSON, not built with today's model.
    stored = converter.to_payloads([{"settings": {"check_after_seconds": 2 * 86_400}}])
    (state,) = converter.from_payloads(stored, [BatchState])
    assert state.settings.check_after_seconds == 2 * 86_400
    # The longest interval still makes a date the workflow can compute with.
    assert datetime(2_999, 1, 1, tzinfo=UTC) + timedelta(seconds=MAX_CHECK_SECONDS)
