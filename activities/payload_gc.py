"""The scheduled payload collection's one activity (``PayloadGc``, workflows/payload_gc.py):
shared/payload_gc.py run by a worker of the tickets queue, with that worker's own client and
payload store, deleting what ``python -m starter gc-payloads --yes`` would.

A failed attempt is tried again (``workflows/payload_gc.py`` RETRY allows any number, within the
run's execution timeout), but one failing for reasons of its own stops after FAILED_ATTEMPTS. A
rolling restart's cut is not such a failure: a worker told to stop cancels its activities after
the grace and the server counts the attempt as failed (type ``WorkerShutdown``), so a collection
of hours across a rollout lost one of its six attempts to each worker stopped under it, began
again from nothing each time, and failed its run. Temporal keeps no count per kind of failure,
so each attempt carries the count in its heartbeat details: it counts itself failed as it begins
(a worker that dies mid-attempt is a failure) and takes that back when its worker starts to shut
down.
"""

import asyncio
from datetime import timedelta
from typing import Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import begin_attempt, carry, earlier, heartbeating
from shared import names
from shared.background import stop_background
from shared.data_converter import payload_driver_of
from shared.payload_gc import GcReport, GcRequest, collect_payloads

FAILED_ATTEMPTS: Final = 6
FAILURES: Final = "failures"  # the heartbeat details' entry: attempts that failed on their own
FAILED_TYPE: Final = "PayloadCollectionFailed"


def _failed_before() -> int:
    count = earlier(FAILURES)
    return count if isinstance(count, int) and count >= 0 else 0


async def _uncounted_on_shutdown(failed_before: int) -> None:
    """This attempt's count taken back once its worker starts to shut down: the attempt it may
    then lose is the rollout's, not the collection's."""
    await activity.wait_for_worker_shutdown()
    carry(FAILURES, failed_before)


@activity.defn(name=names.COLLECT_PAYLOADS)
async def collect_payloads_activity(request: GcRequest) -> GcReport:
    client = activity.client()
    driver = payload_driver_of(client.data_converter)
    if driver is None:
        raise ApplicationError(
            "this worker's data converter stores large payloads in no content-addressed payload "
            "store, so it has none to collect: the project's workers always have one (its "
            "client was built without shared.data_converter.data_converter?)",
            type="NoPayloadStore",
            non_retryable=True,
        )
    grace = timedelta(seconds=request.grace_seconds)
    begin_attempt()
    failed_before = _failed_before()
    if failed_before >= FAILED_ATTEMPTS:
        # Attempts that ended without raising (their worker died, or they timed out) count too,
        # but only the next attempt can see them: without this a collection that brings its
        # worker down was tried every 15 minutes until its run's time ran out.
        raise ApplicationError(
            f"the payload collection failed {failed_before} times (worker shutdowns not "
            "counted; an attempt whose worker died or that timed out is): the next scheduled "
            "run tries again",
            type=FAILED_TYPE,
            non_retryable=True,
        )
    carry(FAILURES, failed_before + 1)
    shutdown = asyncio.create_task(_uncounted_on_shutdown(failed_before))
    try:
        async with heartbeating():
            report = await collect_payloads(client, driver, grace, really=True)
    except Exception as err:
        if not (isinstance(err, ApplicationError) and err.non_retryable):
            _give_up_after(failed_before + 1, err)
        raise
    finally:
        await stop_background(shutdown)
    # Counts only: the report's problems name workflow ids and the server's words, no payload.
    activity.logger.info(
        "payload collection: %d owner(s) checked, %d gone; deleted %d payload(s), %d bytes; "
        "%d owner(s) could not be checked",
        report.owners_checked,
        report.owners_gone,
        report.payloads_deleted,
        report.bytes_freed,
        report.owners_not_checked,
    )
    return report


def _give_up_after(failures: int, err: Exception) -> None:
    """Non-retryable once ``failures`` attempts failed on their own (module docstring)."""
    if failures >= FAILED_ATTEMPTS:
        raise ApplicationError(
            f"the payload collection failed {failures} times (worker shutdowns not counted); "
            f"the last time: {type(err).__name__}: {err}",
            type=FAILED_TYPE,
            non_retryable=True,
        ) from err
