"""What the agent activities count for their provider's rate controller."""

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from activities.rate_reports import OutcomeReporter
from shared.rate_control import OutcomeReport


def reporter() -> OutcomeReporter:
    # record() never talks to Temporal; the client is only used to send the counts.
    return OutcomeReporter(None, "llm-x", "rate-control", 2.0, 30.0)  # type: ignore[arg-type]


def test_calls_are_counted_as_answered_rate_limited_or_failed() -> None:
    counts = reporter()
    counts.record(None)
    counts.record(ApplicationError("refused", type="ProviderBadRequest", non_retryable=True))
    counts.record(
        ApplicationError("429", type="ProviderRateLimited", next_retry_delay=timedelta(seconds=3))
    )
    counts.record(ApplicationError("429", type="ProviderRateLimited"))
    counts.record(ApplicationError("503", type="ProviderUnavailable"))
    counts.record(ApplicationError("slow", type="ProviderTimeout"))
    counts.record(ApplicationError("down", type="ProviderConnectionError"))
    counts.record(ValueError("a bug, not the provider"))
    assert counts.pending() == OutcomeReport(
        answered=2, rate_limited=2, failed=3, retry_after=3.0, mode="adaptive"
    )


def test_reports_merge_and_keep_the_longest_retry_after() -> None:
    merged = OutcomeReport(answered=1, retry_after=2.0).merged(
        OutcomeReport(rate_limited=1, retry_after=5.0)
    )
    assert merged == OutcomeReport(answered=1, rate_limited=1, retry_after=5.0)
    assert OutcomeReport().empty() and not merged.empty()
