"""The worker's health endpoints and its graceful shutdown, on a real worker process.

A deploy stops workers with SIGTERM. The worker must then say it is draining (so nothing sends it
more work) and let an agent call it already made finish, instead of cutting a call that is paid
for and making another worker repeat it.
"""

import asyncio
import logging
import signal
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from shared import names
from shared.health import HealthState, database_check, start_health_server, temporal_check
from shared.stores.postgres import PostgresDatabase
from shared.temporal_client import connect, connection_settings
from tests.ops.conftest import OpsServer
from tests.support.cluster import MachineWorker
from tests.support.fake_llm import FakeLLMServer, Reply, good_answers
from tests.support.postgres import PostgresServer
from tests.support.processes import free_port
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket, start_ticket

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# Long enough to watch the worker drain while the call is in flight; far below the grace.
CALL_SECONDS = 4.0
GRACE_SECONDS = 60


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(url)


def slow_first_classification(fake: FakeLLMServer) -> None:
    def answer(request: object) -> Reply:
        reply = good_answers(request)  # type: ignore[arg-type]
        if len(fake.calls("Classification")) == 1:
            reply.delay = CALL_SECONDS
        return reply

    fake.responder = answer  # type: ignore[assignment]


async def test_a_draining_worker_says_so_and_lets_the_agent_call_it_made_finish(
    ops_server: OpsServer, tmp_path: Path
) -> None:
    health = f"127.0.0.1:{free_port()}"
    with FakeLLMServer() as fake:
        slow_first_classification(fake)
        env = {
            **ops_server.env,
            "TICKETS_ENCRYPTION_KEY_FILE": str(ops_server.data_dir / "encryption-keys.json"),
            "TICKETS_HEALTH_ADDRESS": health,
            "TICKETS_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
            "TICKETS_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-test-health-0123456789",
            "OPENAI_BASE_URL": fake.openai_base_url,
        }
        machine = MachineWorker("health", tmp_path, env)
        machine.start()
        try:
            await asyncio.to_thread(machine.wait_ready)
            assert f"in-flight work gets {GRACE_SECONDS}s to finish" in machine.output()

            alive = await get(f"http://{health}/healthz")
            ready = await get(f"http://{health}/readyz")
            assert (alive.status_code, alive.json()["status"]) == (200, "ok")
            # tickets, delivery, llm-openai, and rate-control: the openai queue's controller
            # takes the limit the provider declares (the default, declared_limit).
            assert alive.json()["workers"] == 4
            assert ready.status_code == 200
            assert ready.json() == {"checks": {"temporal": "ok"}, "status": "ok"}

            ticket = make_ticket()
            handle = await start_ticket(ops_server.client, names.TICKETS_TASK_QUEUE, ticket)
            await wait_until(lambda: fake.calls("Classification"), timeout=30, what="the call")
            assert machine.process is not None
            machine.process.send_signal(signal.SIGTERM)

            async def draining() -> httpx.Response | None:
                answer = await get(f"http://{health}/readyz")
                return answer if answer.json()["status"] == "draining" else None

            drained = await wait_until(draining, timeout=CALL_SECONDS, what="/readyz draining")
            assert drained.status_code == 503
            still = await get(f"http://{health}/healthz")
            assert (still.status_code, still.json()["draining"]) == (200, True)

            code = await asyncio.to_thread(machine.process.wait, GRACE_SECONDS)
            assert code == 0, machine.output()[-2000:]
            assert "worker: stopped" in machine.output()
            machine.process = None
        finally:
            machine.stop()

    events = [e async for e in handle.fetch_history_events()]
    scheduled = {
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == names.CLASSIFY_TICKET
    }
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
    completed = [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
    ]
    # The classification made before the stop completed on its first attempt: not cut, not
    # repeated by another worker.
    assert attempts == [1]
    assert len(completed) == 1
    assert len(fake.calls("Classification")) == 1
    description = await handle.describe()
    if description.status is WorkflowExecutionStatus.RUNNING:
        await handle.terminate("the test's worker has stopped")


async def test_readiness_names_the_dependency_that_does_not_answer(
    ops_server: OpsServer, postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    unreachable = await connect(connection_settings({"TEMPORAL_ADDRESS": nowhere}), lazy=True)
    closed_db = PostgresDatabase(postgres.url().replace(f":{postgres.port}/", f":{free_port()}/"))
    live_db = PostgresDatabase(postgres.url(), pool_size=1)

    class FakeRunningWorker:  # what HealthState asks of a temporalio Worker
        is_running = True

    down = HealthState(
        [FakeRunningWorker()],
        {"temporal": temporal_check(unreachable), "database": database_check(closed_db)},
    )
    up = HealthState(
        [FakeRunningWorker()],
        {"temporal": temporal_check(ops_server.client), "database": database_check(live_db)},
    )
    servers = [
        await start_health_server("127.0.0.1:0", down),
        await start_health_server("127.0.0.1:0", up),
    ]
    try:
        with caplog.at_level(logging.INFO, logger="worker.health"):
            not_ready = await get(f"http://{servers[0].address}/readyz")
            ready = await get(f"http://{servers[1].address}/readyz")
            again = await get(f"http://{servers[0].address}/readyz")
    finally:
        for server in servers:
            await server.close()
        await live_db.close()
    assert not_ready.status_code == 503
    body = not_ready.json()
    assert body["status"] == "not ready"
    assert body["checks"]["temporal"] != "ok" and body["checks"]["database"] != "ok"
    # Why goes to the worker's log, once per change, not to whoever reaches the port (the
    # body named the database's host, port and name).
    assert f"{closed_db.target.port}" not in not_ready.text and again.json() == body
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2, warned  # one per failing check, none for the second probe
    database = next(m for m in warned if "'database'" in m)
    assert f"{closed_db.target.port}" in database and "nothing answered there" in database
    assert all(postgres.password not in m for m in warned)
    assert postgres.password not in not_ready.text
    assert (ready.status_code, ready.json()["checks"]) == (
        200,
        {"temporal": "ok", "database": "ok"},
    )
