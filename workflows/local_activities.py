"""Local activities whose failures reach the workflow in one shape, live and on replay.

With temporalio 1.35 a local activity's timeout reaches workflow code as an ``ActivityError``
whose cause is the ``TimeoutError`` while it runs, and as the bare ``TimeoutError`` when the
history is replayed (the marker's failure). Code that caught ``ActivityError`` took another path
on replay: a nondeterminism error, and a ticket stuck RUNNING with its answer already sent (a
local delivery attempt that timed out was queued live; its replay failed the workflow task).
``run_local`` wraps the bare timeout in an ``ActivityError`` as the live run has it, so both see
the same; that changes nothing a live run did, so it needs no patch.

A local activity's own failure (an ``ApplicationError``: retries spent, or one not to retry)
arrives bare both ways. Code that takes a failed regular activity's path for it (the ticket's
knowledge-base lookup and configuration snapshot, which failed the workflow without moving the
ticket to FAILED or telling its batch) asks for it to be wrapped too: that changes the commands
after such a failure, so it is behind a patch, asked only when one happens.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.workflow import ActivityCancellationType

T = TypeVar("T")

# A local activity's own failure (the ticket's knowledge-base lookup, its configuration
# snapshot) fails the ticket as a regular activity's does: FAILED with the reason, its batch
# told. Before, the workflow failed with the ticket in its last state.
PATCH_LOCAL_FAILURE_FAILS_TICKET = "local-failure-fails-ticket"


def _as_activity_error(activity: str, what: str, err: BaseException) -> ActivityError:
    wrapped = ActivityError(
        f"local activity {activity} {what}",
        scheduled_event_id=0,
        started_event_id=0,
        identity="",
        activity_type=activity,
        activity_id="",
        retry_state=None,
    )
    wrapped.__cause__ = err
    return wrapped


async def run_local(
    activity: str,
    *args: Any,
    result_type: type[T] | Callable[..., T],
    start_to_close_timeout: timedelta,
    retry_policy: RetryPolicy,
    summary: str,
    own_failures_as_activity_errors: bool = False,
    own_failures_known: bool = False,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
) -> T:
    """``workflow.execute_local_activity``, its timeout an ``ActivityError`` live and on replay;
    its own ``ApplicationError`` one too when ``own_failures_as_activity_errors`` (patched;
    ``own_failures_known``: the caller's version implies the patch, which is then not asked: a
    patch marker right after a failed local activity's marker in one workflow task does not
    replay reliably, see workflows/ticket_patches.py PATCH_DELIVERING_STATE)."""
    try:
        return await workflow.execute_local_activity(
            activity,
            args=list(args),
            result_type=result_type,  # type: ignore[arg-type]
            start_to_close_timeout=start_to_close_timeout,
            retry_policy=retry_policy,
            summary=summary,
            cancellation_type=cancellation_type,
        )
    except TemporalTimeoutError as err:  # only on replay: live it came wrapped
        raise _as_activity_error(activity, "timed out", err) from err
    except ApplicationError as err:
        if own_failures_as_activity_errors and (
            own_failures_known or workflow.patched(PATCH_LOCAL_FAILURE_FAILS_TICKET)
        ):
            raise _as_activity_error(activity, "failed", err) from err
        raise
