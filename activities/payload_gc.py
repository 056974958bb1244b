"""The scheduled payload collection's one activity (``PayloadGc``, workflows/payload_gc.py):
shared/payload_gc.py run by a worker of the tickets queue, with that worker's own client and
payload store, deleting what ``python -m starter gc-payloads --yes`` would."""

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from shared import names
from shared.data_converter import payload_driver_of
from shared.payload_gc import GcReport, GcRequest, collect_payloads


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
    async with heartbeating():
        report = await collect_payloads(client, driver, grace, really=True)
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
