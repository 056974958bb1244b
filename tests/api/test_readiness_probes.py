"""/readyz needs no token: probes arriving together share one check, whose outcome answers them
for a second (api/temporal.py). Each check took one of the payload database's pooled
connections, or opened one more when none was free: a flood of probes held the pool and ran
PostgreSQL out of connections for Temporal and the workers. Fakes of the client stand in for
Temporal and the database (named as fakes)."""

import asyncio
from types import SimpleNamespace

import httpx
import pytest

from api import temporal as api_temporal
from api.app import create_app
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from shared.stores.errors import SchemaBehind, StoreUnavailable
from tests.support.api_server import Tokens


class FakeDatabase:
    """Counts the pings in progress at once; fails while ``down``."""

    def __init__(self) -> None:
        self.now = self.most = self.calls = 0
        self.down = False

    async def ping(self) -> None:
        self.calls += 1
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.05)
            if self.down:
                raise StoreUnavailable("the fake database is down")
        finally:
            self.now -= 1

    def describe(self) -> str:
        return "a fake database"


def fake_client(database: FakeDatabase) -> SimpleNamespace:
    async def get_system_info(*args: object, **kwargs: object) -> SimpleNamespace:
        return SimpleNamespace(server_version="fake")

    storage = SimpleNamespace(drivers=[SimpleNamespace(database=database)])
    return SimpleNamespace(
        workflow_service=SimpleNamespace(get_system_info=get_system_info),
        data_converter=SimpleNamespace(external_storage=storage),
    )


async def test_a_flood_of_probes_makes_one_check_at_a_time(
    tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = FakeDatabase()
    client = fake_client(database)

    async def factory() -> SimpleNamespace:
        return client

    app = create_app(ApiSettings(), tokens.registry(), TemporalConnection(factory=factory))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    # The outcome stands for the whole flood however slow the machine (the test is about one
    # check at a time, not about how long an outcome stands).
    monkeypatch.setattr(api_temporal, "READINESS_CACHE_SECONDS", 60.0)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        answers = await asyncio.gather(*(http.get("/readyz") for _ in range(100)))
        assert [a.status_code for a in answers] == [200] * 100
        assert (database.most, database.calls) == (1, 1)

        # With no time for an outcome to stand, every probe checks, one at a time still; a
        # failure is said as it is.
        monkeypatch.setattr(api_temporal, "READINESS_CACHE_SECONDS", 0.0)
        database.down = True
        failing = await asyncio.gather(*(http.get("/readyz") for _ in range(20)))
    assert [a.status_code for a in failing] == [503] * 20
    assert all("payload database does not answer" in a.json()["message"] for a in failing)
    assert (database.most, database.calls) == (1, 21)


async def test_tables_a_worker_has_not_created_yet_are_said_as_such_not_as_a_database_down(
    tokens: Tokens,
) -> None:
    """A first `up`: the API starts beside the workers, which create the tables; its 503 said
    the database did not answer, and an operator whose workers could not start (a bad key)
    looked at a healthy PostgreSQL (a review, 2026-12-08)."""
    database = FakeDatabase()

    async def behind() -> None:
        raise SchemaBehind("the tables are at version 0 and this code needs 8")

    database.ping = behind  # type: ignore[method-assign]
    client = fake_client(database)

    async def factory() -> SimpleNamespace:
        return client

    app = create_app(ApiSettings(), tokens.registry(), TemporalConnection(factory=factory))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as h:
        answer = await h.get("/readyz")
    assert answer.status_code == 503
    assert "tables are not created or not up to date yet" in answer.json()["message"]
    assert "does not answer" not in answer.json()["message"]


async def test_a_temporal_that_accepts_and_never_answers_is_not_ready_within_the_probe_s_time(
    tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    # A review (2026-12-07): the connection attempt had no bound of its own, so with a frontend
    # that took the connection and said nothing, every probe (and every request) waited for
    # the SDK's 30 s before its 503.
    import socket

    from shared.temporal_client import connection_settings

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        port = silent.getsockname()[1]
        connection = TemporalConnection(
            connection_settings({"TEMPORAL_ADDRESS": f"127.0.0.1:{port}"})
        )
        app = create_app(ApiSettings(), tokens.registry(), connection)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api"
        ) as http:
            with caplog.at_level("WARNING", logger="api"):
                answer = await asyncio.wait_for(http.get("/readyz"), 60)  # a bound on a hang
    finally:
        silent.close()
    assert answer.status_code == 503
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not ready")]
    assert said and said[0].endswith("did not answer within 3 s"), said
