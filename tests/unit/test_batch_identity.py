"""A batch's id and input digest come from its tickets' ids and content: the same file run again
follows the batch already running, a corrected one is another batch. Only the id, subject, body
and customer id counted: a file corrected in an address, a tier or a channel attached to the
batch running the old file, whose tickets not started yet went out as the old file said."""

import pytest

from shared.tickets import Channel, CustomerTier
from starter.batch_run import batch_parts
from tests.support.tickets import make_ticket


@pytest.mark.parametrize(
    "corrected",
    [
        {"customer_email": "right@example.com"},
        {"customer_tier": CustomerTier.ENTERPRISE},
        {"channel": Channel.CHAT},
        {"body": "Other words."},
    ],
    ids=["address", "tier", "channel", "body"],
)
def test_a_file_corrected_under_the_same_ids_is_another_batch(corrected: dict[str, object]) -> None:
    ticket = make_ticket(customer_email="wrong@example.com")
    fixed = ticket.model_copy(update=corrected)
    assert batch_parts([ticket]) != batch_parts([fixed])
    assert batch_parts([ticket]) == batch_parts([ticket.model_copy()])
