"""The HTTP API's review body: its chain is the ticket's run id as the server writes it."""

import uuid

import pytest
from pydantic import ValidationError

from api.models import ReviewRequest


def test_a_chain_is_a_run_id_written_as_the_server_writes_it() -> None:
    run = uuid.uuid4()
    braced = ReviewRequest(action="approve", revision=1, chain="{" + str(run).upper() + "}")
    # The workflow compares strings: an uppercase or braced spelling was refused as another
    # ticket's review.
    assert braced.chain == str(run)
    # "" is no chain, as the workflow reads it (a client sending `view.chain or ""`).
    assert ReviewRequest(action="approve", revision=1, chain="").chain is None
    with pytest.raises(ValidationError, match="'nope' is not a ticket's chain"):
        ReviewRequest(action="approve", revision=1, chain="nope")
