"""The queued delivery's attempt waits out a Retry-After its local first attempt was given
(activities/delivery/asked_to_wait.py)."""

from datetime import UTC, datetime, timedelta

from activities.delivery.asked_to_wait import asked_to_wait
from shared import names
from shared.view import DeliveryRequest

NOW = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
REQUEST = DeliveryRequest(
    ticket_id="T-1", channel="chat", customer_id="C-1", revision=1, text="Your answer."
)


def test_an_attempt_before_the_time_asked_for_ends_with_the_rest_of_it_as_its_delay() -> None:
    waiting = REQUEST.model_copy(update={"not_before": NOW + timedelta(seconds=30)})

    error = asked_to_wait(waiting, NOW + timedelta(seconds=12))

    assert error is not None and error.type == names.DELIVERY_UNAVAILABLE_ERROR
    assert error.next_retry_delay == timedelta(seconds=18)
    assert "Retry-After" in error.message and "19:00:30 UTC" in error.message
    assert not error.non_retryable


def test_no_wait_without_a_time_after_it_or_for_an_answer_already_sent() -> None:
    later = REQUEST.model_copy(update={"not_before": NOW})
    sent = later.model_copy(update={"sent_key": "key-1", "not_before": NOW + timedelta(hours=1)})

    assert asked_to_wait(REQUEST, NOW) is None
    assert asked_to_wait(later, NOW) is None
    assert asked_to_wait(later, NOW + timedelta(seconds=1)) is None
    assert asked_to_wait(sent, NOW) is None  # recording it asks the destination nothing
