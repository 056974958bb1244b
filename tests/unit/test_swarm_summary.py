"""The swarm's summary of its item results: counts, failures with reasons, latency percentiles of
the successful calls, and what every call (failed ones too) cost."""

import pytest

from shared.agents import Usage
from shared.swarm import ItemResult, ReviewInsights, Sentiment
from workflows.swarm import summarise

INSIGHTS = ReviewInsights(sentiment=Sentiment.POSITIVE, key_points=["Great kettle."])


def usage(latency_ms: float, tokens_in: int = 0, tokens_out: int = 0, cost: float = 0.0) -> Usage:
    return Usage(
        provider="offline",
        model="rules",
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        latency_ms=latency_ms,
        cost_usd=cost,
    )


def ok(item_id: str, latency_ms: float, **spent: float) -> ItemResult:
    return ItemResult(item_id=item_id, ok=True, output=INSIGHTS, usage=usage(latency_ms, **spent))


def failed(item_id: str, error: str | None, spent: Usage | None = None) -> ItemResult:
    return ItemResult(item_id=item_id, ok=False, error=error, usage=spent)


def test_no_results_is_a_complete_success_with_zero_everything() -> None:
    summary = summarise([], runs=1)
    assert (summary.total, summary.succeeded, summary.failed) == (0, 0, 0)
    assert summary.success_rate == 1.0
    assert summary.failures == []
    assert (summary.latency_ms_p50, summary.latency_ms_p95, summary.latency_ms_p99) == (0, 0, 0)
    assert (summary.tokens, summary.cost_usd, summary.runs) == (0, 0.0, 1)


def test_counts_success_rate_and_failures_with_their_reasons() -> None:
    results = [
        ok("R-1", 100),
        failed("R-2", "ValidationError: key_points is empty"),
        ok("R-3", 200),
        failed("R-4", None),
        ok("R-5", 300),
    ]
    summary = summarise(results, runs=3)
    assert (summary.total, summary.succeeded, summary.failed) == (5, 3, 2)
    assert summary.success_rate == pytest.approx(0.6)
    assert [(f.item_id, f.reason) for f in summary.failures] == [
        ("R-2", "ValidationError: key_points is empty"),
        ("R-4", "unknown"),
    ]
    assert summary.runs == 3
    assert summary.outputs == results


def test_latency_percentiles_come_from_successful_items_only() -> None:
    results = [ok(f"R-{i}", float(i * 10)) for i in range(1, 101)]  # 10 ms ... 1000 ms
    # A failed call that timed out after a minute must not distort the latency of answers.
    results.append(failed("R-slow", "timed out", usage(60_000.0)))
    summary = summarise(results, runs=1)
    assert summary.latency_ms_p50 == 500.0
    assert summary.latency_ms_p95 == 950.0
    assert summary.latency_ms_p99 == 990.0


def test_successful_items_without_usage_are_left_out_of_the_latencies() -> None:
    results = [
        ok("R-1", 40),
        ItemResult(item_id="R-2", ok=True, output=INSIGHTS, usage=None),
        ok("R-3", 20),
    ]
    summary = summarise(results, runs=1)
    assert summary.latency_ms_p50 == 20.0
    assert summary.latency_ms_p99 == 40.0
    assert summary.succeeded == 3


def test_tokens_and_cost_include_the_failed_calls_that_were_paid_for() -> None:
    results = [
        ok("R-1", 10, tokens_in=100, tokens_out=20, cost=0.0012),
        ok("R-2", 10, tokens_in=50, tokens_out=10, cost=0.0006),
        failed("R-3", "provider error", usage(5, tokens_in=30, cost=0.0003)),
        failed("R-4", "rate limited"),
    ]
    summary = summarise(results, runs=1)
    assert summary.tokens == 210
    assert summary.cost_usd == pytest.approx(0.0021, abs=1e-12)


def test_cost_is_rounded_to_eight_decimals() -> None:
    results = [ok(f"R-{i}", 1, cost=0.1) for i in range(3)]  # 0.1 * 3 is 0.30000000000000004
    assert summarise(results, runs=1).cost_usd == 0.3


def test_every_item_failing_gives_a_zero_success_rate_and_zero_latencies() -> None:
    results = [failed("R-1", "boom", usage(700.0)), failed("R-2", "boom")]
    summary = summarise(results, runs=2)
    assert summary.success_rate == 0.0
    assert summary.latency_ms_p50 == 0.0
    assert summary.latency_ms_p99 == 0.0
    assert [f.item_id for f in summary.failures] == ["R-1", "R-2"]
