"""What the agent activities count for their provider's rate controller."""

import asyncio
import contextlib
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from activities.rate_reports import BAD_NEWS_QUIET, OutcomeReporter
from shared.rate_control import OutcomeReport
from tests.support.rate_simulation import simulate


def reporter(**options: Any) -> OutcomeReporter:
    # record() never talks to Temporal; the client is only used to send the counts.
    return OutcomeReporter(None, "llm-x", "rate-control", 2.0, 30.0, **options)  # type: ignore[arg-type]


def test_calls_are_counted_as_answered_rate_limited_or_failed() -> None:
    counts = reporter()
    counts.record(None)
    counts.record(ApplicationError("refused", type="ProviderBadRequest", non_retryable=True))
    counts.record(
        ApplicationError("429", type="ProviderRateLimited", next_retry_delay=timedelta(seconds=3))
    )
    counts.record(ApplicationError("429", type="ProviderRateLimited"))
    counts.record(ApplicationError("503", type="ProviderUnavailable"))
    counts.record(ApplicationError("529", type="ProviderOverloaded"))  # the breaker counts it
    counts.record(ApplicationError("slow", type="ProviderTimeout"))
    counts.record(ApplicationError("down", type="ProviderConnectionError"))
    counts.record(ValueError("a bug, not the provider"))
    # With the worker's breaker cool-down: a running controller takes it.
    assert counts.pending() == OutcomeReport(
        answered=2,
        rate_limited=2,
        failed=4,
        retry_after=3.0,
        mode="adaptive",
        cool_down_seconds=30.0,
    )


def test_reports_merge_and_keep_the_longest_retry_after() -> None:
    merged = OutcomeReport(answered=1, retry_after=2.0).merged(
        OutcomeReport(rate_limited=1, retry_after=5.0)
    )
    assert merged == OutcomeReport(answered=1, rate_limited=1, retry_after=5.0)
    assert OutcomeReport().empty() and not merged.empty()
    # Workers configured with different cool-downs: the longest, whichever reported last.
    cool = [OutcomeReport(cool_down_seconds=c) for c in (60.0, None, 30.0)]
    assert cool[0].merged(cool[1]).merged(cool[2]).cool_down_seconds == 60.0
    assert OutcomeReport(cool_down_seconds=30.0).empty()  # the setting alone is no news


class FakeControllerHandle:
    """Stands in for the client's handle on the rate controller: keeps the signals sent."""

    def __init__(self) -> None:
        self.reports: list[OutcomeReport] = []
        self.arrived = asyncio.Event()

    async def signal(self, name: str, report: OutcomeReport) -> None:
        self.reports.append(report)
        self.arrived.set()


class FakeClient:
    def __init__(self) -> None:
        self.handle = FakeControllerHandle()

    def get_workflow_handle(self, workflow_id: str) -> FakeControllerHandle:
        return self.handle


RATE_LIMITED = ApplicationError("429", type="ProviderRateLimited")


def test_bad_news_after_a_quiet_spell_is_urgent_and_the_rest_of_the_spell_is_not() -> None:
    now = [100.0]
    counts = reporter(clock=lambda: now[0])
    counts.record(None)
    assert not counts.urgent()  # answers wait for the interval
    counts.record(RATE_LIMITED)
    assert counts.urgent()
    counts._bad_news.clear()  # sent (what run() does)
    now[0] += 1.0
    counts.record(ApplicationError("503", type="ProviderUnavailable"))
    assert not counts.urgent()  # within BAD_NEWS_QUIET of the last: the controller holds anyway
    now[0] += BAD_NEWS_QUIET.total_seconds()
    counts.record(RATE_LIMITED)
    assert counts.urgent()


def test_taking_only_declared_limits_nothing_is_urgent() -> None:
    counts = reporter(mode="declared")
    counts.record(RATE_LIMITED)
    assert not counts.urgent()


async def test_a_429_after_a_quiet_spell_is_sent_without_waiting_for_the_interval() -> None:
    client = FakeClient()
    counts = OutcomeReporter(client, "llm-x", "rate-control", 2.0, 30.0)  # type: ignore[arg-type]
    # An interval no test waits for: only the bad news can make the report go.
    sender = asyncio.create_task(counts.run(interval=3600.0))
    try:
        counts.record(None)
        counts.record(RATE_LIMITED)
        await asyncio.wait_for(client.handle.arrived.wait(), timeout=30.0)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    assert client.handle.reports == [
        OutcomeReport(answered=1, rate_limited=1, mode="adaptive", cool_down_seconds=30.0)
    ]


def test_reporting_bad_news_at_once_draws_fewer_429s_from_a_bursty_provider() -> None:
    """Simulated (tests/support/rate_simulation.py), medians of 20 seeds at 10/s."""

    def median_429s(at_once: bool) -> float:
        runs = [simulate(10.0, seed=s, report_at_once=at_once) for s in range(20)]
        return statistics.median(r.rate_limited_share for r in runs)

    assert median_429s(True) < 0.9 * median_429s(False)


def test_a_failure_carries_when_its_attempt_began_and_other_outcomes_do_not() -> None:
    counts = reporter()
    began = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    counts.record(ApplicationError("503", type="ProviderUnavailable"), started=began)
    counts.record(None, started=began + timedelta(seconds=1))
    counts.record(RATE_LIMITED, started=began + timedelta(seconds=2))
    counts.record(ApplicationError("slow", type="ProviderTimeout"))  # no start known
    pending = counts.pending()
    assert pending.failed == 2 and pending.failed_started == [began.timestamp()]


def test_merged_reports_keep_the_latest_failure_starts_in_order() -> None:
    many = [OutcomeReport(failed=1, failed_started=[float(t)]) for t in range(40, 0, -1)]
    merged = OutcomeReport()
    for report in many:
        merged = merged.merged(report)
    assert merged.failed == 40
    assert merged.failed_started == [float(t) for t in range(9, 41)]  # the latest 32
    with pytest.raises(ValidationError):
        OutcomeReport(failed=1, failed_started=[float("nan")])
    with pytest.raises(ValidationError):
        OutcomeReport(failed=33, failed_started=[1.0] * 33)
