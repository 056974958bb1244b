"""What a failed agent call says: one sentence a person can act on, its kind for the logs (no
provider's words), and the usage it carried (billed to the ticket). Workflow code."""

from collections.abc import Sequence

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutType
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from shared import names
    from shared.agents import Usage


def describe_failure(err: BaseException) -> str:
    """One sentence a person can act on, from an activity failure chain."""
    if isinstance(err, ActivityError):
        cause = err.cause
        what = err.activity_type or "an activity"
        if isinstance(cause, ApplicationError):
            return f"{failure_kind(err)}: {cause.message}"
        if isinstance(cause, TemporalTimeoutError):
            agent_call = err.activity_type in names.AGENT_ACTIVITIES
            return failure_kind(err) + (TIMEOUT_MEANS.get(cause.type, "") if agent_call else "")
        if cause is not None:
            return f"{what} failed: {cause}"
        return f"{what} failed: {err.message}"
    return str(err)


# What each timeout of an agent call says about its cause, and the setting behind
# it (the same "timed out (schedule_to_start)" was shown for a paused provider and for a queue
# behind its own rate limit).
TIMEOUT_MEANS: dict[TimeoutType | None, str] = {
    TimeoutType.SCHEDULE_TO_START: (
        ": no worker started it within agent_timeouts.queue_wait_seconds (its queue paused by "
        "the provider's breaker, behind its rate limit, or with no worker polling it)"
    ),
    TimeoutType.HEARTBEAT: (
        ": an attempt went silent for agent_timeouts.heartbeat_seconds (an answer that stalled, "
        "or a worker that died) and the retries allowed ran out"
    ),
    TimeoutType.SCHEDULE_TO_CLOSE: (
        ": its retries ran out of time (the ticket's SLA, or the least retry window)"
    ),
}


def failure_kind(err: BaseException) -> str:
    """What failed and the kind of failure, without its message: for the worker's log, where a
    provider's or a channel's words (a model's refusal quoting the ticket, a refused recipient's
    address) must not go. The whole description is kept on the ticket (its encrypted view)."""
    if isinstance(err, ActivityError):
        cause = err.cause
        what = err.activity_type or "an activity"
        if isinstance(cause, ApplicationError):
            return f"{what} failed: {cause.type or 'error'}"
        if isinstance(cause, TemporalTimeoutError):
            kind = cause.type.name.lower() if cause.type else "timeout"
            return f"{what} timed out ({kind})"
        return f"{what} failed: {type(cause or err).__name__}"
    if isinstance(err, ApplicationError):
        return f"failed: {err.type or 'error'}"
    return type(err).__name__


def is_invalid_output(err: ActivityError) -> bool:
    return isinstance(err.cause, ApplicationError) and err.cause.type == names.INVALID_OUTPUT_ERROR


# A route that ended in a timeout (its time bound passed while it retried, 429s say) bills the
# usage its attempts carried in their heartbeats (the server hands the last one's details to the
# timeout): the tokens of answers made before the end, lost before. Asked only when a timeout
# carries usage, so every other history is unchanged.
PATCH_TIMEOUT_USAGE = "timeout-usage-billed"


def usage_of_failed_call(err: ActivityError) -> Usage | None:
    """What a failed call spent: a provider failure carries the usage of the requests it made in
    its details; a timeout, in its last heartbeat's."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return failure_usage(cause)
    if isinstance(cause, TemporalTimeoutError):
        carried = carried_usage(cause.last_heartbeat_details)
        if carried is not None and workflow.patched(PATCH_TIMEOUT_USAGE):
            return carried
    return None


def spent_in(error: BaseException) -> Usage | None:
    """What a failed call's own failure (read back from a history, outside any workflow) says it
    spent: a provider failure's details, a timeout's last heartbeat."""
    if isinstance(error, ApplicationError):
        return failure_usage(error)
    if isinstance(error, TemporalTimeoutError):
        return carried_usage(error.last_heartbeat_details)
    return None


def failure_usage(error: ApplicationError) -> Usage | None:
    """The usage a provider failure carries in its details (None when it carries none)."""
    if not error.details:
        return None
    try:
        return Usage.model_validate(error.details[0])
    except ValueError:
        return None


def carried_usage(details: Sequence[object]) -> Usage | None:
    """The usage in an agent activity's heartbeat details: one mapping of named entries
    (activities/heartbeat.py), or the usage alone from workers before named entries."""
    first = details[0] if details else None
    if not isinstance(first, dict):
        return None
    entry = first.get("usage", first if "input_tokens" in first else None)
    try:
        return Usage.model_validate(entry) if entry is not None else None
    except ValueError:
        return None
