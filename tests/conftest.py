"""Fixtures shared by the whole suite."""

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from shared.search_attribute_setup import ensure_search_attributes
from tests.support.temporal import CONVERTER, StartedWorkflows, binary, replay_histories

_started = StartedWorkflows()


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, from the pip package (no download), with the ticket search
    attributes registered (it knows none until they are added through its operator service)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER,
        interceptors=[_started],
        test_server_existing_path=binary("temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
async def replay_check(ts_env: WorkflowEnvironment) -> AsyncIterator[None]:
    """Every workflow a test starts is replayed against the current code when the test ends."""
    _started.started.clear()
    yield
    await replay_histories(ts_env.client, list(_started.started))
    _started.started.clear()


@pytest.fixture
def task_queue() -> str:
    """A fresh workflow task queue per test, so no test's worker picks up another test's work."""
    return f"tickets-{uuid.uuid4().hex[:8]}"
