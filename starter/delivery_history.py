"""What a ticket run's history says about its delivery, read in one pass for `starter redrive`:
the workflow task to reset to so that only the delivery runs again, and whether an answer went
out that the ledger never recorded."""

import json
from dataclasses import dataclass
from typing import Any, Final

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

from shared import names
from shared.delivery import SENT_DETAIL
from shared.view import DeliveryRequest

# The SDK core records each local activity as a marker whose "data" detail names its type.
LOCAL_ACTIVITY_MARKER: Final = "core_local_activity"
DELIVERY_ACTIVITIES: Final = frozenset({names.DELIVER_RESPONSE, names.DELIVER_RESPONSE_NOW})


@dataclass
class DeliveryHistory:
    # The WorkflowTaskCompleted event whose commands scheduled the last delivery (a queued
    # activity) or recorded it (the first attempt, a local activity since lean-history).
    reset_event_id: int | None = None
    # The idempotency key of an answer that went out and was never recorded: the queued
    # delivery's failure when its retries ran out said so (DeliverySentUnrecorded, whatever the
    # last attempt hit; activities/delivery/activity.py), or a timed-out attempt's heartbeat
    # details did, or the queued request itself did (``sent_key``: the local first attempt
    # sent it; the last attempt may have ended in a worker's crash or shutdown, saying nothing).
    sent_key: str | None = None
    # The idempotency key of an answer the last delivery could not tell arrived or not
    # (names.DELIVERY_MAY_HAVE_ARRIVED), whether or not the ledger recorded the doubt.
    doubted_key: str | None = None


def local_activity_type(event: HistoryEvent) -> str | None:
    attrs = event.marker_recorded_event_attributes
    if attrs.marker_name != LOCAL_ACTIVITY_MARKER or "data" not in attrs.details:
        return None
    payloads = attrs.details["data"].payloads
    try:
        data = json.loads(payloads[0].data) if payloads else {}
    except ValueError:
        return None
    kind = data.get("activity_type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


async def read_delivery(client: Client, workflow_id: str, run_id: str) -> DeliveryHistory:
    found = DeliveryHistory()
    deliveries: set[int] = set()
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name in DELIVERY_ACTIVITIES:
                deliveries.add(event.event_id)
                found.reset_event_id = scheduled.workflow_task_completed_event_id
                told = await _request_sent_key(client, scheduled.input.payloads)
                found.sent_key = told or found.sent_key
            continue
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            if local_activity_type(event) in DELIVERY_ACTIVITIES:
                marker = event.marker_recorded_event_attributes
                found.reset_event_id = marker.workflow_task_completed_event_id
                if marker.HasField("failure"):
                    failure = await client.data_converter.decode_failure(marker.failure)
                    found.doubted_key = _doubted_key(failure)
            continue
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            attrs: Any = event.activity_task_failed_event_attributes
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            attrs = event.activity_task_timed_out_event_attributes
        else:
            continue
        if attrs.scheduled_event_id in deliveries:
            failure = await client.data_converter.decode_failure(attrs.failure)
            found.sent_key = _sent_key(failure) or found.sent_key
            found.doubted_key = _doubted_key(failure)
    return found


async def _request_sent_key(client: Client, payloads: Any) -> str | None:
    """The ``sent_key`` a scheduled delivery's request carries, if it reads as one."""
    try:
        [request] = await client.data_converter.decode(list(payloads), [DeliveryRequest])
    except Exception:  # another shape (an older request), or unreadable: nothing said
        return None
    return request.sent_key if isinstance(request, DeliveryRequest) else None


def _doubted_key(err: BaseException) -> str | None:
    """The key of an answer a delivery could not tell arrived (its refusal's details), or
    None. A local attempt's failure comes wrapped in the activity's."""
    cause = err.cause if isinstance(err, ActivityError) and err.cause is not None else err
    if not isinstance(cause, ApplicationError) or cause.type != names.DELIVERY_REJECTED_ERROR:
        return None
    details = cause.details
    doubted = len(details) >= 2 and details[0] == names.DELIVERY_MAY_HAVE_ARRIVED
    return details[1] if doubted and isinstance(details[1], str) else None


def _sent_key(err: BaseException) -> str | None:
    if isinstance(err, ApplicationError):
        said = err.type == names.DELIVERY_SENT_UNRECORDED_ERROR and err.details
        return err.details[0] if said and isinstance(err.details[0], str) else None
    if isinstance(err, TimeoutError) and err.last_heartbeat_details:
        carried = err.last_heartbeat_details[0]
        key = carried.get(SENT_DETAIL) if isinstance(carried, dict) else None
        return key if isinstance(key, str) else None
    return None
