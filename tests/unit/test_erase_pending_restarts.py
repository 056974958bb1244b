"""``erase``'s check of running batches: a ticket whose child start the server refused (an ended
run held its id) is still to start until the batch's restart activity for it has completed. It
was taken as begun: the erasure deleted the ended run, then the restart started the ticket
afresh, the agents ran and the answer went out after the erasure."""

import json
from types import SimpleNamespace

import pytest
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.contrib.pydantic import pydantic_data_converter

from shared import names
from shared.batch import TicketRestarts
from starter.erase_pending import _begun
from tests.support.tickets import make_ticket
from workflows.batch_patches import RESTARTS_AS_SUBMITTED


def patch_marker(patch_id: str) -> HistoryEvent:
    """The marker sdk-core records for ``workflow.patched(patch_id)``."""
    event = HistoryEvent(event_id=4)
    marker = event.marker_recorded_event_attributes
    marker.marker_name = "core_patch"
    data = json.dumps({"id": patch_id, "deprecated": False}).encode()
    marker.details["patch-data"].payloads.append(Payload(data=data))
    return event


async def events(*, restart_closed: str | None, patched: bool = True) -> list[HistoryEvent]:
    kept, refused = make_ticket(), make_ticket()
    restart = TicketRestarts(tickets=[refused], batch_id="batch-1", task_queue="tickets")
    payloads = await pydantic_data_converter.encode([restart])
    found = [
        HistoryEvent(event_id=5),
        HistoryEvent(event_id=6),
        HistoryEvent(event_id=7),
        HistoryEvent(event_id=10),
    ]
    started = found[0].start_child_workflow_execution_initiated_event_attributes
    started.workflow_id = names.ticket_workflow_id(kept.ticket_id)
    again = found[1].start_child_workflow_execution_initiated_event_attributes
    again.workflow_id = names.ticket_workflow_id(refused.ticket_id)
    found[2].start_child_workflow_execution_failed_event_attributes.workflow_id = again.workflow_id
    scheduled = found[3].activity_task_scheduled_event_attributes
    scheduled.activity_type.name = names.RESTART_TICKETS
    scheduled.input.CopyFrom(Payloads(payloads=payloads))
    if restart_closed is not None:
        done = HistoryEvent(event_id=12)
        getattr(done, restart_closed).scheduled_event_id = 10
        found.append(done)
    return [patch_marker(RESTARTS_AS_SUBMITTED), *found] if patched else found


@pytest.mark.parametrize(
    ("closed", "patched", "pending"),
    [
        (None, True, True),  # the restart still to run: the ticket is to start
        ("activity_task_completed_event_attributes", True, False),
        # A restart that failed or timed out for good starts nothing later either: it was
        # taken as pending, and erase failed until the batch ended.
        ("activity_task_failed_event_attributes", True, False),
        ("activity_task_timed_out_event_attributes", True, False),
        # A batch run from before restarts-as-submitted starts no refused ticket again.
        (None, False, False),
    ],
)
async def test_a_refused_start_is_to_come_only_while_its_restart_may_still_run(
    closed: str | None, patched: bool, pending: bool
) -> None:
    client = SimpleNamespace(data_converter=pydantic_data_converter)
    found = await events(restart_closed=closed, patched=patched)
    started = [
        e for e in found if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    kept, refused = (
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id for e in started
    )
    begun = await _begun(client, found)  # type: ignore[arg-type]
    assert begun == ({kept} if pending else {kept, refused})
