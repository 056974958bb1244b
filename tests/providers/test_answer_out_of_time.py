"""An answer still streaming as its attempt's start-to-close timeout nears ends as the provider's
timeout, with the tokens it was billed, while the worker can still report it: Temporal's own
timeout cancels the call and reports nothing, so a slow model's long answer (a local model at a
few tokens a second) was billed on every attempt and counted on none."""

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.agent_activities import AgentActivities
from activities.providers.errors import ANSWER_OUT_OF_TIME_TYPE
from activities.rate_reports import FAILED_TYPES
from shared.agents import AgentRoute, Usage
from tests.providers.conftest import MODELS
from tests.providers.fake_stream import (
    HOLD_HEADERS,
    PAUSE,
    Event,
    FakeStreamServer,
    stream_provider,
)
from tests.providers.helpers import classify_request
from tests.providers.test_openai_provider import chunk

ROUTE = AgentRoute(provider="openai", model=MODELS["openai"])


async def classify_failing(
    streams: list[list[Event]],
    *,
    attempt_seconds: float,
    provider_timeout: float,
    heartbeat: timedelta | None,
    retries_left: float | None = None,
) -> tuple[ApplicationError, float, int]:
    """The classifier's activity, in an attempt of ``attempt_seconds``, against a fake answering
    ``streams``: its error, the seconds it took, and the requests the fake was sent.
    ``retries_left``: seconds left of the call's schedule-to-close (None: none set)."""
    env = ActivityEnvironment()
    # The test environment's own (1 s from 1970) is no call's: none unless asked.
    window: dict[str, object] = {"schedule_to_close_timeout": None}
    if retries_left is not None:
        # Scheduled 15 minutes ago, with that window less what is left.
        scheduled = datetime.now(UTC) - timedelta(minutes=15)
        window = {
            "scheduled_time": scheduled,
            "schedule_to_close_timeout": timedelta(minutes=15, seconds=retries_left),
            "started_time": datetime.now(UTC),  # this attempt, by the server's clock
        }
    env.info = dataclasses.replace(
        env.info,
        start_to_close_timeout=timedelta(seconds=attempt_seconds),
        heartbeat_timeout=heartbeat,
        **window,
    )
    with FakeStreamServer() as fake_stream:
        fake_stream.push(*streams)
        async with stream_provider(
            "openai", fake_stream, timeout_seconds=provider_timeout
        ) as provider:
            activities = AgentActivities({"openai": provider})
            request = classify_request().model_copy(update={"route": ROUTE})
            began = time.monotonic()
            with pytest.raises(ApplicationError) as raised:
                await env.run(activities.classify_ticket, request)
            return raised.value, time.monotonic() - began, len(fake_stream.requests)


async def test_a_steady_answer_longer_than_the_attempt_is_cut_in_time_and_billed() -> None:
    # A chunk every 0.2 s for 12 s: never idle for the provider's timeout, far longer than the
    # attempt's 3 s (whose last 0.3 s are kept for the report).
    steady = [chunk({"role": "assistant", "content": '{"category": "Acc'})]
    for _ in range(60):
        steady += [(PAUSE, 0.2), chunk({"content": "ount "})]
    # The provider's timeout below the attempt's, as the settings require.
    err, took, _ = await classify_failing(
        [steady], attempt_seconds=3, provider_timeout=2.0, heartbeat=timedelta(seconds=20)
    )
    assert err.type == ANSWER_OUT_OF_TIME_TYPE and not err.non_retryable
    assert "agent_timeouts.start_to_close_seconds" in err.message
    assert took < 8.0  # cut, not read to its end (12 s); the message says by the attempt's end
    # A slow answer, not a failing provider: the circuit breaker does not count it.
    assert err.type not in FAILED_TYPES
    usage = Usage.model_validate(err.details[0])
    assert usage.estimated and usage.input_tokens > 0 and usage.output_tokens > 0


async def test_a_late_retry_is_cut_by_its_call_s_retry_window_not_only_its_own_time() -> None:
    # A review (2026-12-07): a retry begun with a minute of the call's schedule-to-close left
    # counted on its whole start-to-close; Temporal's schedule-to-close ended it first (not
    # retried) and its calls' tokens were counted nowhere.
    steady = [chunk({"role": "assistant", "content": '{"category": "Acc'})]
    for _ in range(100):
        steady += [(PAUSE, 0.2), chunk({"content": "ount "})]
    err, took, _ = await classify_failing(
        [steady],
        attempt_seconds=30,
        provider_timeout=5.0,
        heartbeat=timedelta(seconds=20),
        retries_left=3.0,
    )
    assert err.type == ANSWER_OUT_OF_TIME_TYPE
    assert "retry window" in err.message
    assert took < 10.0  # cut at the window (3 s), not at the attempt's 30 s
    usage = Usage.model_validate(err.details[0])
    assert usage.input_tokens > 0 and usage.output_tokens > 0


async def test_a_repair_whose_answer_has_not_begun_by_the_attempt_s_end_is_cut_too() -> None:
    # The first answer does not validate and streams for 1.5 s; the repair request's headers
    # are held for 2.9 s: the wait for them ran past the attempt's 4 s (bounded only by the
    # 3 s read timeout), and Temporal's timeout would have ended it with the calls uncounted.
    stop = (None, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = chunk(usage={"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110})
    invalid = chunk({"role": "assistant", "content": '{"category": "Nope"}'})
    streams = [
        [invalid, (PAUSE, 1.5), stop, usage],
        [(HOLD_HEADERS, 2.9), chunk({"content": "{}"}), stop, usage],
    ]
    err, took, requests = await classify_failing(
        streams, attempt_seconds=4, provider_timeout=3.0, heartbeat=None
    )

    assert err.type == ANSWER_OUT_OF_TIME_TYPE and not err.non_retryable, err.message
    assert requests == 2
    assert took < 4.0  # by the attempt's end less its margin for the report
    # The first answer's tokens, reported (the repair's had not begun).
    usage_reported = Usage.model_validate(err.details[0])
    assert (usage_reported.input_tokens, usage_reported.output_tokens) == (100, 10)


async def test_an_answer_that_stalls_mid_stream_ends_in_time_with_what_it_was_billed() -> None:
    # One chunk, then nothing: the provider's idle limit (here 20 s) outlasted the heartbeat
    # timeout (1 s), so Temporal ended the attempt with no provider error to carry what it was
    # billed, and the ticket's budget missed every stalled attempt (a review, 2026-12-07).
    stalled = [chunk({"role": "assistant", "content": '{"category": "Acc'}), (PAUSE, 15.0)]
    err, took, requests = await classify_failing(
        [stalled], attempt_seconds=30, provider_timeout=20.0, heartbeat=timedelta(seconds=1)
    )
    assert err.type == "ProviderTimeout" and not err.non_retryable
    assert "stream stopped for 0.75 s after it began" in err.message
    assert took < 5.0 and requests == 1
    usage = Usage.model_validate(err.details[0])
    assert usage.estimated and usage.input_tokens > 0 and usage.output_tokens > 0


async def test_the_retry_window_is_counted_on_the_server_s_clock_whatever_the_worker_s_says() -> (
    None
):
    # A review of the change (2026-12-07): compared with the worker's own wall clock, a worker
    # ten minutes fast cut every late attempt at once. The window left at the attempt's start
    # is the server's (scheduled + schedule-to-close - started), then the worker's own clock.
    from activities.heartbeat import begin_attempt, retries_time_left

    env = ActivityEnvironment()
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)  # the server's clock decades off the worker's
    env.info = dataclasses.replace(
        env.info,
        scheduled_time=long_ago,
        schedule_to_close_timeout=timedelta(minutes=15),
        started_time=long_ago + timedelta(minutes=14),
    )

    async def left() -> float | None:
        begin_attempt()
        return retries_time_left(0.0)

    seconds = await env.run(left)
    assert seconds is not None and 59.0 < seconds <= 60.0, seconds
