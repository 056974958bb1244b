"""Delivery on the real dev server with the real offline agents and a real destination (a local
webhook receiver or SMTP server), through the worker's own workers."""

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from activities.delivery.activity import DeliveryActivities
from activities.delivery.config import DeliveryConfig
from shared.pipeline_config import PipelineConfig, ReviewPolicyConfig
from shared.stores.ledger import DeliveryLedger, LedgerEntry
from shared.stores.postgres import PostgresDatabase
from shared.stores.postgres_ledger import PostgresLedger
from shared.stores.sqlite_ledger import SqliteLedger
from shared.tickets import Ticket
from shared.view import DeliveryRequest
from tests.support.postgres import PostgresServer
from tests.support.temporal import wait_for_state
from tests.support.tickets import start_ticket
from tests.support.workers import real_pipeline


@pytest.fixture(params=["sqlite", "postgres"])
async def ledger(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresServer
) -> AsyncIterator[DeliveryLedger]:
    """The delivery ledger on each backend, for tests of the delivery activities on their own."""
    if request.param == "sqlite":
        sqlite = SqliteLedger(tmp_path / "outbox.sqlite3")
        yield sqlite
        await sqlite.close()
        return
    database = PostgresDatabase(postgres.create_database("delivery"), pool_size=4)
    yield PostgresLedger(database)
    await database.close()


# Nothing waits for a person: every ticket goes straight to delivery.
NO_REVIEW = PipelineConfig(review=ReviewPolicyConfig(min_confidence=0.0, review_urgent=False))
SECRET = "a-webhook-secret-of-some-length"


@contextlib.asynccontextmanager
async def delivering(
    client: Client,
    task_queue: str,
    tmp_path: Path,
    config: DeliveryConfig,
    ledger: DeliveryLedger | None = None,
) -> AsyncIterator[DeliveryActivities]:
    delivery = DeliveryActivities(ledger or SqliteLedger(tmp_path / "outbox.sqlite3"), config)
    try:
        async with real_pipeline(client, task_queue, tmp_path, NO_REVIEW, delivery=delivery):
            yield delivery
    finally:
        await delivery.aclose()


async def run_tickets(
    client: Client, task_queue: str, tickets: list[Ticket], *states: str, timeout: float = 60
) -> list[Any]:
    """Start the tickets and wait until each is in one of ``states``; their views."""
    handles = [await start_ticket(client, task_queue, t) for t in tickets]
    return await settle(handles, *states, timeout=timeout)


async def settle(
    handles: list[WorkflowHandle[Any, Any]], *states: str, timeout: float = 60
) -> list[Any]:
    return [await wait_for_state(h, *states, timeout=timeout) for h in handles]


def recorded(channel: str, sent_via: str) -> LedgerEntry:
    """A ledger row as a channel gets it (for tests of one channel against a real server)."""
    return LedgerEntry(
        ticket_id="T-1",
        channel=channel,
        customer_id="C-1",
        revision=1,
        body="Hello.",
        text_sha256="0" * 64,
        idempotency_key="T-1.key",
        sent_via=sent_via,
        recorded_at=datetime.now(UTC),
        sent_at=None,
        attempts=0,
        last_error=None,
    )


def asked(channel: str, customer_email: str | None = None) -> DeliveryRequest:
    """The delivery request that goes with ``recorded``."""
    return DeliveryRequest(
        ticket_id="T-1",
        channel=channel,
        customer_id="C-1",
        revision=1,
        text="Hello.",
        customer_email=customer_email,
    )
