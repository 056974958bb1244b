"""The API with its shared database (TICKETS_DATABASE_URL: large payloads) down: a 503 with one
sentence, as for Temporal down, and /readyz says not ready. It answered 500 with two tracebacks
in its log, and /readyz said ready."""

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from shared.data_converter import data_converter
from shared.temporal_client import connect, connection_settings
from tests.api.helpers import unique_id, urgent_ticket
from tests.support.api_server import API_TEST_NAMESPACE, Tokens, bearer
from tests.support.processes import free_port

PASSWORD = "s3cret-pw"


@pytest.fixture
async def api_without_its_database(
    api_temporal: Client, tokens: Tokens
) -> AsyncIterator[httpx.AsyncClient]:
    # Nothing listens on the port: the database is down. Payloads over 1 KiB go there.
    url = f"postgresql://tickets:{PASSWORD}@127.0.0.1:{free_port()}/tickets"
    converter = data_converter(env={"TICKETS_DATABASE_URL": url}, threshold=1_024, key_ring=None)
    address = api_temporal.service_client.config.target_host
    settings = connection_settings(
        {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": API_TEST_NAMESPACE}
    )

    async def factory() -> Client:
        return await connect(settings, converter=converter)

    app = create_app(ApiSettings(), tokens.registry(), TemporalConnection(settings, factory))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://api",
        timeout=60,
    ) as client:
        yield client


async def test_a_ticket_that_needs_the_database_gets_a_503_naming_it_and_readyz_says_not_ready(
    api_without_its_database: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket = urgent_ticket(unique_id("DBDOWN")) | {"body": "My order never arrived. " * 200}
    submitted = await api_without_its_database.post(
        "/tickets", headers=bearer(tokens.admin), json=ticket
    )
    # An intake-only token, the likeliest to leak from a web form or a mail gateway, is told
    # what happened and a reference, not the database's host and name.
    other = urgent_ticket(unique_id("DBDOWN")) | {"body": "My parcel never arrived. " * 200}
    intake = await api_without_its_database.post(
        "/tickets", headers=bearer(tokens.submit), json=other
    )
    ready = await api_without_its_database.get("/readyz")

    assert submitted.status_code == intake.status_code == 503, submitted.text
    said = submitted.json()["message"]
    assert said.startswith("the shared database is unavailable") and "try again" in said
    assert "127.0.0.1" in said and PASSWORD not in submitted.text
    told = intake.json()["message"]
    assert told.startswith("the shared database is unavailable; try again shortly (reference ")
    assert "127.0.0.1" not in intake.text and PASSWORD not in intake.text
    assert ready.status_code == 503 and "payload database" in ready.json()["message"]
