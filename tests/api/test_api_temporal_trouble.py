"""The API when Temporal is down, misnamed or has no worker: health says so, every call is a
503 saying what (an intake-only token gets a reference to the log, not the address), and a
malformed request still gets its 422."""

import asyncio

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from shared.temporal_client import connect, connection_settings
from tests.api.helpers import routine_ticket, unique_id
from tests.support.api_server import API_FUZZ_NAMESPACE, Tokens, bearer, serving
from tests.support.processes import free_port
from tests.support.temporal import CONVERTER

pytestmark = pytest.mark.api


async def test_health_says_alive_and_ready_only_while_temporal_answers(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    alive = await http.get("/healthz")
    ready = await http.get("/readyz")
    assert alive.json()["status"] == "alive" and ready.status_code == 200
    assert ready.json()["temporal"]

    dead = f"127.0.0.1:{free_port()}"
    connection = TemporalConnection(connection_settings({"TEMPORAL_ADDRESS": dead}))
    app = create_app(ApiSettings(), tokens.registry(), connection)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as local:
        not_ready = await local.get("/readyz")
        listing = await asyncio.wait_for(
            local.get("/tickets", headers=bearer(tokens.review)), timeout=30
        )
        intake = await asyncio.wait_for(
            local.post(
                "/tickets",
                headers=bearer(tokens.submit),
                json={"subject": "Hi", "body": "My order never arrived."},
            ),
            timeout=30,
        )
    assert not_ready.status_code == listing.status_code == intake.status_code == 503
    # An intake-only token gets what happened and a reference to the log, not the address.
    assert intake.json()["message"].startswith("the ticket service cannot be reached now")
    assert dead not in intake.text and "(reference " in intake.text
    # Anyone may ask /readyz: it says not ready, and only the log and a caller with a token
    # learn where the server is and what failed.
    assert not_ready.json()["message"].startswith("not ready: the Temporal server does not")
    assert dead not in not_ready.text
    assert f"cannot reach the Temporal server at {dead}" in listing.json()["message"]


async def test_a_bad_field_is_a_422_naming_it_while_temporal_is_down(tokens: Tokens) -> None:
    # The client was a dependency, resolved before the request's fields were checked: with
    # Temporal down every malformed request got 503, and its caller learned of the bad field
    # only once Temporal was back.
    dead = f"127.0.0.1:{free_port()}"
    connection = TemporalConnection(connection_settings({"TEMPORAL_ADDRESS": dead}))
    app = create_app(ApiSettings(), tokens.registry(), connection)
    reader = reviewer = bearer(tokens.review)  # review includes read
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as local:
        answers = {
            "review without action": await local.post(
                "/tickets/T-1/review", headers=reviewer, json={"revision": 1}
            ),
            "page_size": await local.get("/tickets?page_size=0", headers=reader),
            "ticket id": await local.get("/tickets/..bad", headers=reader),
            "why": await local.get("/review-queue?why=foo", headers=reader),
            "since": await local.get("/report?since=yesterday-ish", headers=reader),
        }
        valid = await asyncio.wait_for(local.get("/tickets/T-1", headers=reader), timeout=30)

    for what, answer in answers.items():
        assert answer.status_code == 422, (what, answer.text)
    assert valid.status_code == 503


async def test_a_namespace_the_server_lacks_is_not_ready_and_every_call_says_so_with_503(
    dev_env: WorkflowEnvironment, tokens: Tokens
) -> None:
    # A typo in TEMPORAL_NAMESPACE: the server answers, so /readyz said ready, and a new ticket
    # got 404 (which a helpdesk's webhook takes as final: the ticket dropped) naming the
    # namespace to an intake-only token.
    address = dev_env.client.service_client.config.target_host
    settings = connection_settings({"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "tikets"})
    app = create_app(ApiSettings(), tokens.registry(), TemporalConnection(settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as local:
        ready = await local.get("/readyz")
        intake = await local.post(
            "/tickets",
            headers=bearer(tokens.submit),
            json={"subject": "Hi", "body": "My order never arrived."},
        )
        reading = await local.get("/tickets/T-1", headers=bearer(tokens.review))

    assert ready.status_code == intake.status_code == reading.status_code == 503
    assert "tikets" not in intake.text  # an intake-only token: a reference to the log
    assert "has no namespace 'tikets'" in reading.json()["message"]


async def test_a_review_with_no_worker_running_is_refused_with_503_and_not_sent(
    dev_env: WorkflowEnvironment, tokens: Tokens
) -> None:
    """The fuzzing namespace has no worker: a ticket there waits in NEW for ever."""
    address = dev_env.client.service_client.config.target_host
    settings = connection_settings(
        {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": API_FUZZ_NAMESPACE}
    )
    client = await connect(settings, converter=CONVERTER)
    async with (
        serving(client, tokens.registry()) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        ticket_id = unique_id("NOWORKER")
        submitted = await http.post(
            "/tickets", headers=bearer(tokens.submit), json=routine_ticket(ticket_id)
        )
        review = await http.post(
            f"/tickets/{ticket_id}/review",
            headers=bearer(tokens.review),
            json={"action": "reject", "revision": None, "reason": "spam"},
        )

    assert submitted.status_code == 202
    assert review.status_code == 503
    assert (
        "no worker answered on the tickets task queue; the review was not sent"
        in (review.json()["message"])
    )
