"""Reading one ticket that is not as it should be, over HTTP and in the console: a ticket whose
input does not read as a ticket, and one whose workflow was stopped from outside while it
waited for review."""

import logging
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError, field_validator
from temporalio.client import Client

from api.customer_message import customer_ticket
from api.redacted_traceback import redacted_traceback
from shared import names
from tests.api.helpers import unique_id, urgent_ticket, wait_for_state
from tests.support.api_server import Tokens, bearer
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket, start_ticket

pytestmark = pytest.mark.api

SECRET = "ana.lima-private-words"


async def test_a_ticket_whose_input_does_not_validate_reads_without_its_message_or_a_log_of_it(
    http: httpx.AsyncClient,
    console: httpx.AsyncClient,
    tokens: Tokens,
    api_temporal: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Started around the API (as an older release or another program could): an address the
    # model refuses, whose value pydantic's error text would quote.
    ticket_id = unique_id("BADINPUT")
    fields = {"subject": "Refund", "body": "Please refund.", "customer_email": SECRET}
    handle = await api_temporal.start_workflow(
        names.TICKET_WORKFLOW,
        {"ticket": {"ticket_id": ticket_id, **fields}},
        id=names.ticket_workflow_id(ticket_id),
        task_queue=names.TICKETS_TASK_QUEUE,
    )

    async def closed() -> bool:
        return (await handle.describe()).status.name != "RUNNING"

    await wait_until(closed, timeout=30, what=f"{ticket_id}'s workflow closed")
    with caplog.at_level(logging.INFO):
        read = await http.get(f"/tickets/{ticket_id}", headers=bearer(tokens.review))
        page = await console.get(f"/console/tickets/{ticket_id}")

    assert read.status_code == 200, read.text
    detail = read.json()
    assert detail["message"] is None
    expected = f"ticket {ticket_id}'s input is not readable: fields ticket.customer_email"
    assert detail["message_problem"] == expected
    assert detail["status"]["state"] == "FAILED"
    assert page.status_code == 200, page.text
    assert expected.replace("'", "&#39;") in page.text
    assert SECRET not in read.text and SECRET not in page.text
    assert not [r for r in caplog.records if SECRET in r.getMessage() or r.exc_info]


class _Model(BaseModel):
    address: str

    @field_validator("address")
    @classmethod
    def _never(cls, value: str) -> str:
        raise ValueError("not an address")


def test_an_unexpected_errors_log_names_the_fields_of_a_validation_error_never_its_values() -> None:
    try:
        try:
            _Model(address=SECRET)
        except ValidationError as err:
            raise RuntimeError(f"while reading {SECRET}") from err
    except RuntimeError as err:
        logged = redacted_traceback(err)

    assert SECRET not in logged
    assert "pydantic_core._pydantic_core.ValidationError: _Model: 1 error(s) in address" in logged
    assert "builtins.RuntimeError: (message not logged)" in logged
    assert "test_ticket_reading.py" in logged  # where it happened is kept


async def test_a_ticket_stopped_while_awaiting_review_reads_as_stopped_with_no_review_forms(
    http: httpx.AsyncClient, console: httpx.AsyncClient, tokens: Tokens, api_temporal: Client
) -> None:
    ticket_id = unique_id("STOPPED")
    await http.post("/tickets", headers=bearer(tokens.submit), json=urgent_ticket(ticket_id))
    await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")
    waiting_page = await console.get(f"/console/tickets/{ticket_id}")
    await api_temporal.get_workflow_handle(names.ticket_workflow_id(ticket_id)).terminate("stuck")

    read = await http.get(f"/tickets/{ticket_id}", headers=bearer(tokens.review))
    page = await console.get(f"/console/tickets/{ticket_id}")

    async def listed() -> dict[str, Any] | None:
        answer = await http.get("/tickets", headers=bearer(tokens.review))
        found = [t for t in answer.json()["tickets"] if t["ticket_id"] == ticket_id]
        return found[0] if found and found[0]["state"] == "TERMINATED" else None

    summary = await wait_until(listed, timeout=30, what=f"{ticket_id} listed as TERMINATED")
    # It no longer waits: the reasons it waited for were still shown.
    assert summary["review_reasons"] == []
    assert 'id="approve-form"' in waiting_page.text  # the forms the stopped ticket loses
    assert read.status_code == 200, read.text
    assert read.json()["status"]["state"] == "TERMINATED"
    assert read.json()["workflow_status"] == "TERMINATED"
    # The last state the workflow recorded is still in its log.
    assert read.json()["status"]["transitions"][-1]["to_state"] == "AWAITING_REVIEW"
    assert page.status_code == 200
    assert '<span class="badge" id="state">TERMINATED</span>' in page.text
    assert "approve-form" not in page.text and "Your review" not in page.text

    # Listed under the state it shows, and not under the one it last recorded: it was listed
    # under none (AWAITING_REVIEW asks for running tickets, and TERMINATED was refused).
    def ids(answer: httpx.Response) -> list[str]:
        assert answer.status_code == 200, answer.text
        return [t["ticket_id"] for t in answer.json()["tickets"]]

    stopped = await http.get("/tickets?state=TERMINATED", headers=bearer(tokens.review))
    waiting = await http.get("/tickets?state=AWAITING_REVIEW", headers=bearer(tokens.review))
    assert ticket_id in ids(stopped) and ticket_id not in ids(waiting)
    assert all(t["state"] == "TERMINATED" for t in stopped.json()["tickets"])


async def test_the_message_read_is_the_one_of_the_run_whose_status_is_shown(
    api_temporal: Client,
) -> None:
    """A ticket started again under its id with other words: the page showing the first run's
    status and draft read the message of whichever run was newest by then (the API read both at
    once, unpinned). Runs started on a queue nobody polls: only their inputs are read."""
    ticket_id = unique_id("TWORUNS")
    queue = f"nobody-{ticket_id}"
    first = await start_ticket(
        api_temporal, queue, make_ticket(ticket_id=ticket_id, body="The first words.")
    )
    await first.terminate("started again with other words")
    await start_ticket(api_temporal, queue, make_ticket(ticket_id=ticket_id, body="Other words."))

    pinned = await customer_ticket(api_temporal, ticket_id, first.result_run_id)
    newest = await customer_ticket(api_temporal, ticket_id)

    assert (pinned.body, newest.body) == ("The first words.", "Other words.")
