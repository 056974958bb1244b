"""Fixtures shared by the whole suite."""

import atexit
import contextlib
import inspect
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from shared import telemetry
from shared.bytecode import compile_workflow_modules
from shared.search_attribute_setup import ensure_search_attributes
from shared.search_attributes import ALL_KEYS
from starter.embedded import SEARCH_ATTRIBUTE_CACHE_FLAG
from tests.support.api_server import API_FUZZ_NAMESPACE, API_TEST_NAMESPACE
from tests.support.postgres import PostgresServer, running_postgres
from tests.support.processes import TEST_SHUTDOWN_GRACE_SECONDS
from tests.support.temporal import (
    CONVERTER,
    DEV_SERVER_STARTUP,
    StartedWorkflows,
    binary,
    replay_histories,
)

# The one browser (and a context per test) for every browser test; the stacks of a test about
# to be ended by its time limit, shown by a parallel run.
pytest_plugins = ["tests.support.browser", "tests.support.hang_report"]

# Worker processes the tests start (``make run`` in a test, WorkerProcess) stop within seconds
# even when a test leaves work in flight; the tests of the grace itself set their own value.
os.environ.setdefault("TICKETS_SHUTDOWN_GRACE_SECONDS", TEST_SHUTDOWN_GRACE_SECONDS)
# The tests read what the command-line client prints in this process too: the same width as
# the processes they start (tests/support/processes.py), whatever the shell or pytest-xdist's
# workers export (COLUMNS=80 wraps the report's lines).
os.environ["COLUMNS"] = "200"
# Nothing in the test process reads the developer's own data directory or keys (`make run`
# leaves ./data/encryption-keys.json; a shell may export a key ring): a client made here from
# the environment would encrypt with them, and the workers a test starts could not decrypt.
for _variable in ("TICKETS_ENCRYPTION_KEYS", "TICKETS_ENCRYPTION_KEY_FILE"):
    os.environ.pop(_variable, None)
# Nor the team's zone a developer exports: tests that render in this process expect UTC's text
# unless they set a zone themselves.
for _variable in ("TICKETS_TIMEZONE", "TICKETS_API_CONSOLE_TIMEZONE"):
    os.environ.pop(_variable, None)
os.environ["TICKETS_DATA_DIR"] = tempfile.mkdtemp(prefix="tickets-test-process-")
# Removed when this process exits (each pytest-xdist worker has its own): every run left one.
atexit.register(shutil.rmtree, os.environ["TICKETS_DATA_DIR"], ignore_errors=True)

_started = StartedWorkflows()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Two tests with one node id stop the run: pytest-xdist keys its work by node id and would
    run one of them and drop the rest without a word (docs/testing.md)."""
    repeated = sorted(n for n, count in Counter(item.nodeid for item in items).items() if count > 1)
    if repeated:
        raise pytest.UsageError(f"tests collected more than once under one node id: {repeated}")


def pytest_configure(config: pytest.Config) -> None:
    # Workers made by tests import the workflow modules per workflow, as the worker does: from
    # bytecode (shared/bytecode.py), also where PYTHONDONTWRITEBYTECODE is set.
    compile_workflow_modules()


@contextlib.asynccontextmanager
async def _time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, from the pip package (no download), with the ticket search
    attributes registered (it knows none until they are added through its operator service)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER,
        interceptors=[_started],
        plugins=telemetry.client_plugins(),  # traced like every client (shared.temporal_client)
        test_server_existing_path=binary("temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping server the session shares."""
    async with _time_skipping_server() as env:
        yield env


@pytest.fixture
async def private_ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own, for a test that leaves the server unable to skip
    time: a workflow that closes while one of its activities is still running keeps the test
    server's time locked for good (temporal-test-server 1.40), and every later ``sleep`` on that
    server hangs. On the shared server that failed whichever sleeping test came next."""
    async with _time_skipping_server() as env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server, from the pip package, for what the time-skipping server does not do
    the way a real one does: priority matching, and children that outlive their parent (the
    test server's clock stops advancing after an abandoned child). One task-queue partition, so
    priority order is exact rather than per partition."""
    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER,
        interceptors=[_started],
        plugins=telemetry.client_plugins(),
        dev_server_existing_path=binary("temporal"),
        dev_server_startup_timeout=DEV_SERVER_STARTUP,
        search_attributes=ALL_KEYS,
        dev_server_extra_args=[
            # The HTTP API's tests work in namespaces of their own (same search attributes).
            "--namespace",
            API_TEST_NAMESPACE,
            "--namespace",
            API_FUZZ_NAMESPACE,
            "--dynamic-config-value",
            "matching.useNewMatcher=true",
            # Registered at its start (search_attributes above): cached, as the embedded
            # server's (starter/embedded.py).
            "--dynamic-config-value",
            f"{SEARCH_ATTRIBUTE_CACHE_FLAG}=false",
            "--dynamic-config-value",
            "matching.numTaskqueueReadPartitions=1",
            "--dynamic-config-value",
            "matching.numTaskqueueWritePartitions=1",
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def replay_check(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every workflow a test starts (with its runs and children) is replayed against the current
    code when the test ends, on whichever server the test used. A plain (not async) test starts
    none: for it nothing is asked, as getting a server not yet started in this process from here
    fails ("Runner.run() cannot be called from a running event loop": a module's pytestmark on
    its one plain test, in a process where no earlier test had started that server)."""
    if not inspect.iscoroutinefunction(request.function):
        yield
        return
    env_name = next(
        (name for name in ("private_ts_env", "dev_env") if name in request.fixturenames), "ts_env"
    )
    env: WorkflowEnvironment = request.getfixturevalue(env_name)
    _started.started.clear()
    yield
    await replay_histories(env.client, list(_started.started))
    _started.started.clear()


@pytest.fixture(autouse=True)
async def _no_workflow_left_running_on_the_time_skipping_server(
    request: pytest.FixtureRequest,
) -> AsyncIterator[None]:
    """The time-skipping server is shared by the session, and it skips time for all of it: a
    ticket a test left waiting (its SLA and final-deadline timers firing on a queue no worker
    polls any more) stalls time skipping for every later test. What a test started and left
    running is terminated when it ends (after ``replay_check`` has replayed it)."""
    if "ts_env" not in request.fixturenames:
        yield
        return
    env: WorkflowEnvironment = request.getfixturevalue("ts_env")
    first = len(_started.every)
    yield
    for workflow_id, _run_id in _started.every[first:]:
        # Its latest run: a run started through a stand-in that continued as new into it
        # (tests/support/continued_start.py) is not the run the start returned.
        handle = env.client.get_workflow_handle(workflow_id)
        with contextlib.suppress(RPCError):
            description = await handle.describe()
            if description.status is WorkflowExecutionStatus.RUNNING:
                await handle.terminate("the test that started it has ended")


@pytest.fixture
def task_queue() -> str:
    """A fresh workflow task queue per test, so no test's worker picks up another test's work."""
    return f"tickets-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the whole session (started on first use), in a temporary folder
    on a free port; each test that needs a database creates its own (``create_database``)."""
    with running_postgres() as server:
        yield server
