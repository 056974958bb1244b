"""What a ticket's record says when an agent call timed out: the kind of timeout, what causes it
and the setting behind it (a paused provider and a queue behind its own rate limit both read
"classify_ticket timed out (schedule_to_start)")."""

from temporalio.exceptions import ActivityError, RetryState, TimeoutType
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from workflows.agent_failures import describe_failure


def timed_out(activity_type: str, kind: TimeoutType) -> ActivityError:
    err = ActivityError(
        "activity timeout",
        scheduled_event_id=5,
        started_event_id=0,
        identity="",
        activity_type=activity_type,
        activity_id="1",
        retry_state=RetryState.TIMEOUT,
    )
    err.__cause__ = TemporalTimeoutError("timeout", type=kind, last_heartbeat_details=[])
    return err


def test_an_agent_call_s_timeouts_say_what_causes_them_and_the_setting() -> None:
    waited = describe_failure(timed_out("classify_ticket", TimeoutType.SCHEDULE_TO_START))
    silent = describe_failure(timed_out("draft_resolution", TimeoutType.HEARTBEAT))
    spent = describe_failure(timed_out("analyze_item", TimeoutType.SCHEDULE_TO_CLOSE))

    assert waited.startswith("classify_ticket timed out (schedule_to_start): no worker started ")
    assert "agent_timeouts.queue_wait_seconds" in waited and "rate limit" in waited
    assert "agent_timeouts.heartbeat_seconds" in silent and "stalled" in silent
    assert spent.endswith(
        "its retries ran out of time (the ticket's SLA, or the least retry window)"
    )


def test_another_activity_s_timeout_is_named_without_the_agents_settings() -> None:
    said = describe_failure(timed_out("deliver_resolution", TimeoutType.SCHEDULE_TO_CLOSE))
    assert said == "deliver_resolution timed out (schedule_to_close)"
