"""PayloadGc, the scheduled payload collection's workflow: a run that could not check some
owners fails (their payloads were kept), naming how many and the first, so the schedule's list
of runs shows it as the command's exit code would; the activity gets a heartbeat timeout and a
retry policy bounded in time."""

import asyncio
import dataclasses
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities import payload_gc as gc_activity
from shared.payload_gc import GcReport, GcRequest
from tests.support.payload_gc import collect_payloads_not_all_checked_fake
from tests.support.temporal import CONVERTER, wait_until
from workflows.payload_gc import ATTEMPT_TIMEOUT, HEARTBEAT_TIMEOUT, RETRY, PayloadGcWorkflow

pytestmark = pytest.mark.timeout(60)


async def test_a_run_that_could_not_check_an_owner_fails_naming_it(
    dev_env: WorkflowEnvironment,
) -> None:
    client, queue = dev_env.client, f"gc-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[PayloadGcWorkflow],
        activities=[collect_payloads_not_all_checked_fake],
    ):
        handle = await client.start_workflow(
            PayloadGcWorkflow.run,
            GcRequest(grace_seconds=3600),
            id=f"payload-gc-test-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "OwnersNotChecked" and cause.non_retryable
    assert "1 owner(s) could not be checked and their payloads were kept" in cause.message
    assert "ticket-T-REC: the server answered: recorded" in cause.message
    scheduled = [
        e.activity_task_scheduled_event_attributes
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert len(scheduled) == 1
    assert scheduled[0].heartbeat_timeout.ToTimedelta() == HEARTBEAT_TIMEOUT
    assert scheduled[0].start_to_close_timeout.ToTimedelta() == ATTEMPT_TIMEOUT
    policy = scheduled[0].retry_policy
    assert (
        policy.initial_interval.ToTimedelta(),
        policy.backoff_coefficient,
        policy.maximum_interval.ToTimedelta(),
        policy.maximum_attempts,
    ) == (RETRY.initial_interval, RETRY.backoff_coefficient, RETRY.maximum_interval, 0)


class _CollectionUntilCut:
    """A fake of the collection itself (shared/payload_gc.collect_payloads): it runs until its
    attempt is cancelled, as one reading millions of histories outlasts a worker's grace."""

    def __init__(self) -> None:
        self.running = asyncio.Event()

    async def __call__(self, *_: object, **__: object) -> GcReport:
        self.running.set()
        await asyncio.Event().wait()
        raise AssertionError("never reached")


async def _pending_attempt(handle: WorkflowHandle[Any, Any]) -> tuple[int, dict[str, Any]] | None:
    """The pending collection's attempt and its carried details, once an attempt has failed."""
    pending = (await handle.describe()).raw_description.pending_activities
    if not pending or pending[0].attempt < 2:
        return None
    details = await CONVERTER.decode(pending[0].heartbeat_details.payloads)
    return pending[0].attempt, details[0] if details else {}


async def test_a_rolling_restart_uses_up_none_of_the_collections_attempts(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A collection of hours lost one of its six attempts to each worker stopped under it in a
    # rollout, and its run failed after six (a review, 2026-12-07).
    collection = _CollectionUntilCut()
    monkeypatch.setattr(gc_activity, "collect_payloads", collection)
    monkeypatch.setattr(gc_activity, "payload_driver_of", lambda _: object())
    client, queue = dev_env.client, f"gc-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        PayloadGcWorkflow.run,
        GcRequest(grace_seconds=3600),
        id=f"payload-gc-test-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )
    try:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[PayloadGcWorkflow],
            activities=[gc_activity.collect_payloads_activity],
            graceful_shutdown_timeout=timedelta(seconds=1),
        ):
            await asyncio.wait_for(collection.running.wait(), 30)
        # The worker stopped: its attempt was cut after the grace (the server counts it failed,
        # type WorkerShutdown) and the next is due in a minute.
        attempt, details = await wait_until(
            lambda: _pending_attempt(handle), what="the cut attempt"
        )
    finally:
        await handle.terminate("test over")
    assert attempt == 2
    assert details == {gc_activity.FAILURES: 0}


@pytest.mark.parametrize(("failed_before", "gives_up"), [(4, False), (5, True)])
async def test_the_collection_gives_up_after_six_attempts_that_failed_on_their_own(
    monkeypatch: pytest.MonkeyPatch, failed_before: int, gives_up: bool
) -> None:
    async def failing(*_: object, **__: object) -> GcReport:
        raise RuntimeError("the history service is unavailable")

    monkeypatch.setattr(gc_activity, "collect_payloads", failing)
    monkeypatch.setattr(gc_activity, "payload_driver_of", lambda _: object())
    env = ActivityEnvironment(client=cast(Client, SimpleNamespace(data_converter=None)))
    env.info = dataclasses.replace(
        env.info,
        attempt=failed_before + 1,
        heartbeat_timeout=None,
        heartbeat_details=[{gc_activity.FAILURES: failed_before}],
    )
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    with pytest.raises((ApplicationError, RuntimeError)) as failed:
        await env.run(gc_activity.collect_payloads_activity, GcRequest(grace_seconds=3600))

    assert beats[0] == ({gc_activity.FAILURES: failed_before + 1},)  # counted at its start
    if gives_up:
        assert isinstance(failed.value, ApplicationError) and failed.value.non_retryable
        assert failed.value.type == gc_activity.FAILED_TYPE
        assert "failed 6 times (worker shutdowns not counted)" in failed.value.message
        assert "RuntimeError: the history service is unavailable" in failed.value.message
    else:
        assert type(failed.value) is RuntimeError


async def test_an_attempt_after_six_that_failed_gives_up_before_collecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Attempts that end without raising (their worker died, a timeout) are counted by the next
    # attempt only: with any number of attempts allowed, a collection that brought its worker
    # down was tried every 15 minutes until its run's time ran out (a review, 2026-12-07).
    calls: list[object] = []

    async def collect_fake(*args: object, **_: object) -> GcReport:
        calls.append(args)
        raise AssertionError("not to be called")

    monkeypatch.setattr(gc_activity, "collect_payloads", collect_fake)
    monkeypatch.setattr(gc_activity, "payload_driver_of", lambda _: object())
    env = ActivityEnvironment(client=cast(Client, SimpleNamespace(data_converter=None)))
    env.info = dataclasses.replace(
        env.info,
        attempt=9,
        heartbeat_timeout=None,
        heartbeat_details=[{gc_activity.FAILURES: gc_activity.FAILED_ATTEMPTS}],
    )

    with pytest.raises(ApplicationError) as failed:
        await env.run(gc_activity.collect_payloads_activity, GcRequest(grace_seconds=3600))

    assert failed.value.non_retryable and failed.value.type == gc_activity.FAILED_TYPE
    assert "failed 6 times" in failed.value.message
    assert calls == []
