"""Temporal servers from the pip packages, workflow tracking and replay for every test."""

import asyncio
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistory,
)
from temporalio.service import RPCError
from temporalio.worker import Replayer

from shared import names, telemetry
from shared.data_converter import data_converter, reading_only
from shared.history_references import patch_id
from shared.stores.payloads_file import FilePayloadDriver
from shared.view import TicketView
from tests.support.continued_start import ContinuedStart
from tests.support.keys import make_key_ring
from workflows import ALL_WORKFLOWS

# The project's converter (pydantic, large payloads in a store), with this test run's own store
# (files in a temporary folder, whatever the developer's environment says).
PAYLOAD_DIR = Path(tempfile.mkdtemp(prefix="ticket-agents-payloads-"))
# Removed when the process ends (each pytest run, and each subprocess that imports this, made one
# that stayed in /tmp).
atexit.register(shutil.rmtree, PAYLOAD_DIR, ignore_errors=True)
PAYLOAD_DRIVER = FilePayloadDriver(PAYLOAD_DIR / "payloads")
# Encrypted as in production, with a fixed test key ring (test-only key material, derived from a
# name, so histories recorded by tests/replay/record_histories.py stay replayable by any run).
TEST_KEY_RING = make_key_ring("test-k1")
CONVERTER = data_converter(
    PAYLOAD_DRIVER, env={"TICKETS_DATA_DIR": str(PAYLOAD_DIR)}, key_ring=TEST_KEY_RING
)
# Tests count what landed in the store under ``PAYLOAD_STORE.root``.
PAYLOAD_STORE = PAYLOAD_DRIVER


# How long a dev server started with WorkflowEnvironment.start_local may take to answer: the
# SDK's default is 5 s, which a loaded 2-core machine passed once (`bench swarm_window` at
# bcd612d failed before measuring while a test run finished).
DEV_SERVER_STARTUP = timedelta(seconds=30)


def binary(name: str) -> str:
    """The server binaries the pip packages install next to this interpreter."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the project (pip install -e '.[dev]')")
    return found


class StartedWorkflows(Interceptor):
    """Client interceptor that remembers every workflow a test starts, for replay afterwards."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str | None]] = []  # for replay; cleared per test
        self.every: list[tuple[str, str | None]] = []  # for clean-up; never cleared

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        tracker = self

        class _Outbound(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                handle = await super().start_workflow(input)
                tracker.started.append((input.id, handle.result_run_id))
                tracker.every.append((input.id, handle.result_run_id))
                return handle

        return _Outbound(next)


async def histories(
    client: Client, workflow_id: str, run_id: str | None = None, children: bool = True
) -> list[WorkflowHistory]:
    """Every history a workflow produced: its runs (following continue-as-new) and, the same
    way (unless ``children`` is False), every child workflow any of them started."""
    found: list[WorkflowHistory] = []
    todo: list[tuple[str, str | None]] = [(workflow_id, run_id)]
    seen: set[tuple[str, str | None]] = set()
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        history = await client.get_workflow_handle(key[0], run_id=key[1]).fetch_history()
        found.append(history)
        for event in history.events:
            if children and event.HasField("child_workflow_execution_started_event_attributes"):
                child = event.child_workflow_execution_started_event_attributes.workflow_execution
                todo.append((child.workflow_id, child.run_id))
            if event.HasField("workflow_execution_continued_as_new_event_attributes"):
                attrs = event.workflow_execution_continued_as_new_event_attributes
                todo.append((key[0], attrs.new_execution_run_id))
    return found


def new_replayer() -> Replayer:
    """A Replayer set up as the workers are: the project's converter (reading stored payloads,
    storing none) and the tracing plugin (so replay also proves that tracing adds no command and
    emits no span)."""
    return Replayer(
        # ContinuedStart: a test's stand-in for a fan-out workflow's earlier run.
        workflows=[*ALL_WORKFLOWS, ContinuedStart],
        data_converter=reading_only(CONVERTER),
        plugins=telemetry.client_plugins(),
    )


# Set by ``python -m tests.replay.record_histories paths``: every history a replay check replays
# is also written to this folder, for the recorder to commit those that take a patch's path.
HISTORIES_OUT = "REPLAYED_HISTORIES_OUT"


def _write_out(every: list[WorkflowHistory]) -> None:
    folder = Path(os.environ[HISTORIES_OUT])
    folder.mkdir(parents=True, exist_ok=True)
    for history in every:
        kept = {"workflow_id": history.workflow_id, "history": json.loads(history.to_json())}
        (folder / f"{uuid.uuid4().hex}.json").write_text(json.dumps(kept))


async def replay_histories(
    client: Client, started: Iterable[tuple[str, str | None]], children: bool = True
) -> int:
    """Replay every history of each workflow (its runs and, unless ``children`` is False, its
    children) against today's code; raises on non-determinism."""
    found = await asyncio.gather(*(histories(client, w, r, children) for w, r in started))
    every = [history for group in found for history in group]
    if every and os.environ.get(HISTORIES_OUT):
        _write_out(every)
    if every:

        async def each() -> AsyncIterator[WorkflowHistory]:
            for history in every:
                yield history

        # One replay worker for all of them (a replayer per history costs a worker start each).
        await new_replayer().replay_workflows(each())
    return len(every)


async def running(handle: WorkflowHandle[Any, Any]) -> bool | None:
    """For ``wait_until``: True once the workflow runs; None before it exists."""
    try:
        return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING or None
    except RPCError:
        return None


async def wait_until(
    check: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll an async or sync condition until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        last = result
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check} (last: {last!r})")


async def status(handle: WorkflowHandle[Any, Any]) -> TicketView:
    return await handle.query(names.STATUS_QUERY, result_type=TicketView)


async def wait_for_state(
    handle: WorkflowHandle[Any, Any], *states: str, timeout: float = 15.0
) -> TicketView:
    async def check() -> TicketView | None:
        view = await status(handle)
        return view if view.state in states else None

    return await wait_until(check, timeout=timeout, what=f"{handle.id} in {states}")


async def is_running(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the workflow exists and runs (False while it does not exist yet)."""
    try:
        status = (await handle.describe()).status
    except RPCError:
        return False
    return status is not None and status.name == "RUNNING"


async def has_event(handle: WorkflowHandle[Any, Any], kind: str) -> bool:
    """Whether the workflow's history has an event of ``kind`` (the stem of its attributes'
    field: ``"workflow_task_completed"``); False while it does not exist yet."""
    try:
        async for event in handle.fetch_history_events():
            if event.HasField(f"{kind}_event_attributes"):
                return True
    except RPCError:
        return False
    return False


async def absorbing_child_waits(
    parent: WorkflowHandle[Any, Any], child: WorkflowHandle[Any, Any]
) -> None:
    """Until ``parent`` has seen ``child`` start and the child has run its first workflow task:
    then a cancel of the parent reaches a child that waits. Running is not enough: a cancel the
    parent takes before it has seen the child start drops the start (the server terminates the
    child as the parent closes), and one the child takes before its first task cancels it
    before it waits (under load, 2 runs of 13 of the swarm's test failed so)."""
    await wait_until(lambda: has_event(child, "workflow_task_completed"), what="the child waiting")
    await wait_until(
        lambda: has_event(parent, "child_workflow_execution_started"),
        what=f"{parent.id} seeing its child start",
    )


async def cancel_seen(handle: WorkflowHandle[Any, Any]) -> bool:
    """The workflow ran a workflow task after its cancel request: its code saw the cancellation
    (a local attempt's workflow task reports in after about eight seconds while it runs)."""
    requested = False
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            requested = True
        elif requested and event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return True
    return False


def patch_ids(events: Iterable[HistoryEvent]) -> list[str]:
    """The patch ids a history's markers record, in order."""
    return [found for event in events if (found := patch_id(event)) is not None]


def states_upserted(events: Iterable[HistoryEvent]) -> list[str]:
    """The TicketState values a history's upserts set, in order (search attributes are not
    encoded)."""
    found = []
    for event in events:
        if event.HasField("upsert_workflow_search_attributes_event_attributes"):
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if "TicketState" in fields.indexed_fields:
                found.append(json.loads(fields.indexed_fields["TicketState"].data))
    return found


async def continued_from_in_runs(client: Client, runs: list[WorkflowHistory]) -> list[str | None]:
    """The ``continued_from`` of the state each run of a swarm or batch started with (its input's
    second argument), in order: each later run's should be the run before's id."""
    found: list[str | None] = []
    for run in runs:
        started = run.events[0].workflow_execution_started_event_attributes
        _, state = await client.data_converter.decode(started.input.payloads, [list, dict])
        found.append(state.get("continued_from"))
    return found
