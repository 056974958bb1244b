"""The patches that leave a newer version's input fields out (ignore-unknown-input-fields on
the ticket, unknown-fields-left-out on the batch) are asked alike by every version: their
committed histories, recorded by a worker that did not know the field, replay on a worker whose
model knows it. Asked from the live model, the newer worker did not ask and failed the replay
(TMPRL1100, a patch marker with no change command): non-determinism on exactly the rolling
deploy the patches are for."""

from pathlib import Path

import pytest
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

import workflows.batch_input as batch_input
import workflows.ticket_request as ticket_request
from shared.data_converter import reading_only
from shared.tickets import Ticket
from shared.view import TicketRequest
from tests.replay.committed import FOLDER, load
from tests.support.temporal import ALL_WORKFLOWS, CONVERTER


class NewerTicket(Ticket):
    """The ticket of a version that added the field the histories' inputs carry."""

    order_id: str | None = None


class NewerRequest(TicketRequest):
    ticket: NewerTicket


@pytest.mark.parametrize(
    "name",
    [
        "ticket-v11-input-from-a-newer-version",
        "ticket-v12-input-from-a-newer-version",
        "batchworkflow-paths-unknown-fields-left-out",
    ],
)
async def test_a_history_with_a_newer_field_replays_on_a_worker_that_knows_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path: Path = FOLDER / f"{name}.json"
    # The newer worker's models (unsandboxed: the patched modules are the ones that run).
    monkeypatch.setattr(ticket_request, "TicketRequest", NewerRequest)
    monkeypatch.setattr(batch_input, "Ticket", NewerTicket)
    monkeypatch.setattr(  # the live-model set an earlier version asked from
        batch_input, "TICKET_FIELDS", frozenset(NewerTicket.model_fields), raising=False
    )
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=reading_only(CONVERTER),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )

    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)

    assert result.replay_failure is None, result.replay_failure


def test_the_frozen_fields_are_all_still_the_models() -> None:
    # A field is never removed from the input (an older history's would no longer read), so the
    # frozen sets stay within the live models: whatever the live model leaves out was asked for.
    assert frozenset(Ticket.model_fields) >= ticket_request.TICKET_FIELDS
    assert frozenset(TicketRequest.model_fields) >= ticket_request.REQUEST_FIELDS
    assert batch_input.ASKING_FIELDS == ticket_request.TICKET_FIELDS
