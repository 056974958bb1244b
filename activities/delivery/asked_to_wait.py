"""The queued delivery's first attempt after a local one whose channel asked for time (a 429's
or 503's Retry-After, carried in the request's ``not_before``): it fails at once with the rest
of that time as its retry delay, sending nothing, instead of asking the destination again
straight away (the workflow schedules the queued delivery as soon as the local attempt fails)."""

from datetime import UTC, datetime

from temporalio.exceptions import ApplicationError

from shared import names
from shared.view import DeliveryRequest


def asked_to_wait(request: DeliveryRequest, now: datetime | None = None) -> ApplicationError | None:
    """The error to end this attempt with while ``not_before`` is ahead, else None. Never for an
    answer an earlier attempt sent (``sent_key``): recording it asks the destination nothing."""
    if request.not_before is None or request.sent_key is not None:
        return None
    left = request.not_before - (now or datetime.now(UTC))
    if left.total_seconds() <= 0:
        return None
    return ApplicationError(
        "the destination asked for time after the first attempt (Retry-After): the answer "
        f"goes out after {request.not_before:%H:%M:%S} UTC",
        type=names.DELIVERY_UNAVAILABLE_ERROR,
        next_retry_delay=left,
    )
