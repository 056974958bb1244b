"""The HTTP API on the real dev server (namespace api-tests) with the real offline worker running
in this process: tickets submitted over HTTP go through the whole pipeline."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.temporal_client import connect, connection_settings
from tests.api.helpers import console_sign_in
from tests.support.api_server import API_TEST_NAMESPACE, Tokens, serving
from tests.support.temporal import CONVERTER
from tests.support.workers import real_pipeline


@pytest.fixture(scope="session")
async def api_temporal(dev_env: WorkflowEnvironment) -> Client:
    """A client of the API's namespace, made by the project's one client factory."""
    address = dev_env.client.service_client.config.target_host
    settings = connection_settings(
        {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": API_TEST_NAMESPACE}
    )
    return await connect(settings, converter=CONVERTER)


@pytest.fixture(scope="session")
async def api_worker(
    api_temporal: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[None]:
    """The worker process's own workers (offline agents, knowledge base, outbox) on the queue the
    API submits to, in the API's namespace."""
    data_dir = tmp_path_factory.mktemp("api-worker")
    async with real_pipeline(api_temporal, names.TICKETS_TASK_QUEUE, Path(data_dir)):
        yield


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    return Tokens.fresh()


@pytest.fixture(scope="session")
async def api_url(api_temporal: Client, api_worker: None, tokens: Tokens) -> AsyncIterator[str]:
    # Generous limits here: the rate limits have their own server in their tests.
    async with serving(
        api_temporal,
        tokens.registry(),
        intake_per_minute=6_000,
        intake_burst=1_000,
        report_per_minute=6_000,
        report_burst=1_000,
        read_per_minute=60_000,
        read_burst=10_000,
    ) as url:
        yield url


@pytest.fixture
async def http(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def console_url(api_temporal: Client, api_worker: None, tokens: Tokens) -> AsyncIterator[str]:
    """The API again, for console tests without a browser: its cookies are not Secure, which
    httpx (unlike a browser on localhost) would keep to itself over plain HTTP."""
    async with serving(
        api_temporal,
        tokens.registry(),
        secure_cookies=False,
        read_per_minute=60_000,
        read_burst=10_000,
    ) as url:
        yield url


@pytest.fixture
async def console(console_url: str, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """A reviewer (ana) signed in to the console."""
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as client:
        await console_sign_in(client, tokens.review)
        yield client
