"""Tickets and waits for the API's tests."""

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from shared import names
from shared.tickets import Ticket
from shared.view import TicketRequest
from tests.api.stalled_review_workflow import StalledReviewFake
from tests.support.api_server import bearer
from tests.support.temporal import wait_until

# Whole-pipeline waits: the offline agents answer at once, the dev server is shared with others.
SETTLE_SECONDS = 60.0


def unique_id(prefix: str = "API") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def urgent_ticket(ticket_id: str) -> dict[str, Any]:
    """Triage makes it Urgent, so policy sends it to a person."""
    return {
        "id": ticket_id,
        "subject": "Account hacked - urgent",
        "body": "Someone changed the password on our admin account this morning and we are "
        "locked out. We think the account is compromised. Please help immediately.",
        "customer_id": "C-2006",
        "tier": "enterprise",
        "channel": "phone",
    }


def routine_ticket(ticket_id: str) -> dict[str, Any]:
    """Answered and delivered with no person involved."""
    return {
        "id": ticket_id,
        "subject": "Forgot my password",
        "body": "Hi, I forgot my password and the reset e-mail never arrived. I checked spam "
        "too. How can I get back into my account?",
        "customer_id": "C-2001",
    }


async def wait_for_state(
    http: httpx.AsyncClient, token: str, ticket_id: str, *states: str
) -> dict[str, Any]:
    """The ticket (GET /tickets/{id}) once its state is one of ``states``."""

    async def check() -> dict[str, Any] | None:
        response = await http.get(f"/tickets/{ticket_id}", headers=bearer(token))
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if body["status"]["state"] in states else None

    result: dict[str, Any] = await wait_until(
        check, timeout=SETTLE_SECONDS, interval=0.2, what=f"{ticket_id} in {states}"
    )
    return result


CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


async def console_sign_in(http: httpx.AsyncClient, token: str) -> None:
    """Sign ``http`` in to the console as a browser does (the sign-in form's token, then the
    form); the server must set insecure cookies, which httpx sends over plain HTTP."""
    form = await http.get("/console/sign-in")
    found = re.search(r'name="sign_in_csrf" value="([^"]+)"', form.text)
    assert found, form.text
    signed = await http.post(
        "/console/sign-in", data={"token": token, "sign_in_csrf": found.group(1)}
    )
    assert signed.status_code == 303, signed.text


def page_csrf(html: str) -> str:
    """The CSRF token of a console page's forms."""
    found = CSRF_FIELD.search(html)
    assert found, html
    return found.group(1)


@contextlib.asynccontextmanager
async def stalled_ticket(client: Client, prefix: str = "STALLED") -> AsyncIterator[str]:
    """A ticket waiting for review on a worker that takes a review and never answers it
    (``StalledReviewFake``); yields its id, terminated when the block ends."""
    ticket_id, queue = unique_id(prefix), f"stalled-{unique_id()}"
    ticket = Ticket(ticket_id=ticket_id, subject="Refund", body="Please refund order 7.")
    async with Worker(client, task_queue=queue, workflows=[StalledReviewFake]):
        handle = await client.start_workflow(
            StalledReviewFake.run,
            TicketRequest(ticket=ticket),
            id=names.ticket_workflow_id(ticket_id),
            task_queue=queue,
        )
        try:
            yield ticket_id
        finally:
            await handle.terminate("test over")
