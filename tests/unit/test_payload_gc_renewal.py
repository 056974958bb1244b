"""The payload collection's schedule made again (shared/payload_gc_renewal.py), with a fake of
the client's schedule calls: once deleted it is created again even when the process is told to
stop meanwhile, a schedule another process deleted first is left alone, and a creation that
keeps failing says how to make it by hand. The real server's side:
tests/privacy/test_gc_schedule_rotation.py."""

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import ScheduleIntervalSpec, ScheduleSpec
from temporalio.service import RPCError, RPCStatusCode

from shared import payload_gc_renewal as renewal
from tests.support.keys import make_key_ring


@dataclass
class ScheduleClientFake:
    """The schedule calls of a client: describe, delete and create, each recorded."""

    exists: bool = True
    creating: asyncio.Event = field(default_factory=asyncio.Event)
    may_create: asyncio.Event = field(default_factory=asyncio.Event)
    create_failures: int = 0
    calls: list[str] = field(default_factory=list)
    data_converter: object = None

    def get_schedule_handle(self, schedule_id: str) -> "ScheduleClientFake":
        return self

    async def describe(self) -> Any:
        self.calls.append("describe")
        if not self.exists:
            raise RPCError("not found", RPCStatusCode.NOT_FOUND, b"")
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))])
        return type("Described", (), {"schedule": type("S", (), {"spec": spec})()})()

    async def delete(self) -> None:
        self.calls.append("delete")
        if not self.exists:
            raise RPCError("not found", RPCStatusCode.NOT_FOUND, b"")
        self.exists = False

    async def create_schedule(self, schedule_id: str, schedule: Any) -> None:
        self.calls.append("create")
        self.creating.set()
        await self.may_create.wait()
        if self.create_failures:
            self.create_failures -= 1
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
        self.exists = True


@pytest.fixture
def old_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The schedule hands on a failure under key "old"; this process's ring's current is "new"."""

    async def keys(*_: object) -> set[str]:
        return {"old"}

    monkeypatch.setattr(renewal, "handed_on_failure_keys", keys)
    monkeypatch.setattr(renewal, "key_ring_of", lambda _: make_key_ring("new", "old"))


@pytest.mark.usefixtures("old_failure")
async def test_a_deleted_schedule_is_made_again_though_the_process_is_stopped_meanwhile() -> None:
    client = ScheduleClientFake()
    renewing = asyncio.create_task(renewal.renew_before_retirement(client, "payload-gc"))  # type: ignore[arg-type]
    await client.creating.wait()  # deleted; its creation under way

    renewing.cancel()  # a SIGTERM while the worker starts
    await asyncio.sleep(0)
    client.may_create.set()
    with pytest.raises(asyncio.CancelledError):
        await renewing

    assert client.calls == ["describe", "delete", "create"]
    assert client.exists


@pytest.mark.usefixtures("old_failure")
async def test_a_schedule_another_process_deleted_first_is_left_alone() -> None:
    client = ScheduleClientFake()
    client.may_create.set()
    real_delete = client.delete

    async def deleted_by_an_operator_first() -> None:
        client.exists = False  # `gc-payloads --unschedule` between the describe and the delete
        await real_delete()

    client.delete = deleted_by_an_operator_first  # type: ignore[method-assign]

    said = await renewal.renew_before_retirement(client, "payload-gc")  # type: ignore[arg-type]

    assert said is None
    assert client.calls == ["describe", "delete"] and not client.exists


@pytest.mark.usefixtures("old_failure")
async def test_a_creation_that_keeps_failing_says_how_to_make_it_by_hand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(renewal, "CREATE_SECONDS", 0.6)
    client = ScheduleClientFake(create_failures=100)
    client.may_create.set()

    with pytest.raises(RPCError) as failed:
        await renewal.renew_before_retirement(client, "payload-gc")  # type: ignore[arg-type]

    assert "was deleted to be made again and could not be created (unavailable)" in str(
        failed.value
    )
    assert "gc-payloads --yes --schedule 86400s" in str(failed.value)
    assert client.calls.count("create") >= 2  # tried again before giving up
