"""``erase``'s check of running batches: a ticket whose child start the server refused (an ended
run held its id) is still to start until the batch's restart activity for it has completed. It
was taken as begun: the erasure deleted the ended run, then the restart started the ticket
afresh, the agents ran and the answer went out after the erasure."""

from types import SimpleNamespace

from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.contrib.pydantic import pydantic_data_converter

from shared import names
from shared.batch import TicketRestarts
from starter.erase_pending import _begun
from tests.support.tickets import make_ticket


async def events(*, restart_completed: bool) -> list[HistoryEvent]:
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
    if restart_completed:
        done = HistoryEvent(event_id=12)
        done.activity_task_completed_event_attributes.scheduled_event_id = 10
        found.append(done)
    return found


async def test_a_refused_start_is_begun_only_once_its_restart_has_completed() -> None:
    client = SimpleNamespace(data_converter=pydantic_data_converter)
    for completed in (False, True):
        found = await events(restart_completed=completed)
        kept, refused = (
            e.start_child_workflow_execution_initiated_event_attributes.workflow_id
            for e in found[:2]
        )
        begun = await _begun(client, found)  # type: ignore[arg-type]
        assert begun == ({kept, refused} if completed else {kept}), completed
