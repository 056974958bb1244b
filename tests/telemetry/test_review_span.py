"""A review's span joins the trace of the request that made it (the API's HTTP span) and links
the ticket's trace (shared/telemetry.py linked_span)."""

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from shared import telemetry
from tests.support.spans import collector


@pytest.fixture
def spans() -> Iterator[list[ReadableSpan]]:
    with collector().collecting() as collected:
        yield collected


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def test_a_review_made_inside_a_request_joins_the_requests_trace_and_links_the_tickets(
    spans: list[ReadableSpan],
) -> None:
    # The API's HTTP span (FastAPI's, carrying the response's status) and the review it made
    # were two traces with nothing joining them: a 409's request could not be found from the
    # review, or the review from the request.
    ticket_trace, ticket_span = "ab" * 16, "cd" * 8
    with (
        telemetry.tracer().start_as_current_span("POST /tickets/{ticket_id}/review") as request,
        telemetry.linked_span("review", ticket_trace, ticket_span),
    ):
        pass

    (review_span,) = named(list(spans), "review")
    assert review_span.parent is not None
    assert review_span.parent.span_id == request.get_span_context().span_id
    assert review_span.context.trace_id == request.get_span_context().trace_id
    (link,) = review_span.links
    assert (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") == (
        ticket_trace,
        ticket_span,
    )
