"""Record workflow histories for the replay tests.

    python -m tests.replay.record_histories
        [tickets|fanout|batch-restart|controller|declared-controller|cancel-meets-send|
         swarm-kept|swarm-one-chunk|paths|payload-gc]
        [--version V]
        [--scenario NAME ...]

Run it when a workflow version is released: it drives one ticket through each path of the
lifecycle on the time-skipping server (fake agents), and each fan-out workflow type (orchestrator
and its sub-tasks, swarm and its chunks, batch, a complex ticket drafted by an orchestrator child)
through ``tests.replay.scenarios`` on the dev server with the real offline agents, and writes
each history to tests/replay/histories/ as ``<workflow type>-<version>-<scenario>.json``. The
replay test replays every committed history against the current code, so a change that would
break workflows already running in production fails a test instead (use ``workflow.patched``).
"""

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.search_attribute_setup import ensure_search_attributes
from shared.search_attributes import ALL_KEYS
from shared.view import TicketView
from tests.replay import scenarios
from tests.replay.committed import FOLDER, read_ids, write_ids
from tests.replay.record_controllers import (
    record_controller,
    record_declared_controller,
    record_first_climb_controller,
)
from tests.replay.record_paths import record_paths
from tests.replay.record_payload_gc import record_payload_gc
from tests.replay.ticket_scenarios import SCENARIOS, SERVICES, START_INPUTS, START_MEMOS
from tests.support.fakes import FakeTicketServices
from tests.support.temporal import (
    CONVERTER,
    binary,
    histories,
)
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import fake_pipeline, real_pipeline

# Bump a version when its workflows change and keep the older files: they are the histories of
# workflows already running. Ticket histories: v1 before any patch, v2 with review-final-deadline,
# v3 with delivery-queue (both patches were released side by side), v4 with both; the fan-out
# scenarios' histories are still the v1 ones. v5: lean-history (one patch for all of them, the
# knowledge base and delivery's first attempt as local activities; see docs/performance.md).
# v6: delivering-state (asked at the start in lean-history's place; a queued delivery moves the
# ticket to DELIVERING). v7: cancel-waits-for-send (asked at the start in delivering-state's
# place; a cancellation waits for a delivery attempt that is sending). v8:
# budget-counts-earlier-runs, asked only for a ticket whose memo carries its earlier runs' spend
# (recorded for the restarted-near-its-budget scenario only; every other path is v7's). v9:
# cancel-reads-ledger, asked only when a cancel request and the queued delivery's end reach the
# ticket in one workflow task (`cancel-meets-send` below, on the dev server; its v8 file is the
# same scenario recorded at aaeb198, before the patch). v10: budget-stop-classifies, asked at
# the start for a ticket whose memo carries earlier spend (recorded for restarted-over-its-budget
# only; its v9 file is the same scenario recorded with the code before the patch).
# v11: rework-cap, asked only when a rework signal comes past the cap (recorded for
# reworked-to-the-cap only, with classifier-fallback-over-budget, whose budget-before-fallback
# no committed history held; every other path is v10's). Recorded later with v11's code, for
# the patches no committed history held: classified-after-a-rate-limit (sla-from-intake),
# rework-failed-back-to-review, input-from-a-newer-version (ignore-unknown-input-fields).
# v12: stages-at-rest (asked at the start in cancel-waits-for-send's place; no upsert between
# agent states), every scenario of the time-skipping set.
TICKETS_VERSION = "v12"
# Fan-out v2: sub-task workflows named by place and worker (positional-subtask-ids), a complex
# ticket after orchestrator-cancel-falls-back and rework-drafts-with-notes (their paths are
# not taken here: asked only when cancelled or reworked), batches with client-made fairness keys.
FANOUT_VERSION = "v2"


async def record_tickets(version: str = TICKETS_VERSION, only: list[str] | None = None) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER,
        test_server_existing_path=binary("temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    try:
        for name, (make_agents, scenario) in SCENARIOS.items():
            if only and name not in only:
                continue
            agents, services = make_agents(), SERVICES.get(name, FakeTicketServices)()
            queue = f"record-{name}"
            async with fake_pipeline(
                env.client,
                queue,
                agents.activities() + services.activities(),
                llm_queue=services.agent_queue,
            ):
                ticket = make_ticket(ticket_id=f"H-{name}")
                if name in START_INPUTS:
                    handle = await env.client.start_workflow(
                        names.TICKET_WORKFLOW,
                        START_INPUTS[name](ticket),
                        id=names.ticket_workflow_id(ticket.ticket_id),
                        task_queue=queue,
                        result_type=TicketView,
                    )
                else:
                    memo = START_MEMOS.get(name)
                    handle = await start_ticket(env.client, queue, ticket, memo=memo)
                await scenario(handle, env)
                history = await handle.fetch_history()
            path = FOLDER / f"ticket-{version}-{name}.json"
            path.write_text(history.to_json())
            print(f"wrote {path} ({len(history.events)} events)")
    finally:
        await env.shutdown()


def workflow_type(history: Any) -> str:
    return str(history.events[0].workflow_execution_started_event_attributes.workflow_type.name)


# A batch's tickets are ticket workflows like any other; one is kept for its report to the batch.
TICKETS_KEPT_PER_BATCH = 1


@contextlib.asynccontextmanager
async def dev_recording() -> AsyncIterator[tuple[Client, Path, dict[str, str]]]:
    """A dev server, a data directory, and the recorded files' workflow ids (written back when
    it ends)."""
    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER,
        dev_server_existing_path=binary("temporal"),
        search_attributes=ALL_KEYS,
    )
    ids = read_ids()
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            yield env.client, Path(data_dir), ids
    finally:
        await env.shutdown()
    write_ids(ids)


@contextlib.asynccontextmanager
async def fanout_recording() -> AsyncIterator[tuple[Client, dict[str, str]]]:
    """A dev server with the real pipeline on the "record-fanout" queue, and the recorded
    files' workflow ids (written back when it ends)."""
    async with (
        dev_recording() as (client, data_dir, ids),
        real_pipeline(client, "record-fanout", data_dir),
    ):
        yield client, ids


def save(history: WorkflowHistory, name: str, ids: dict[str, str]) -> None:
    path = FOLDER / f"{name}.json"
    path.write_text(history.to_json())
    ids[path.stem] = history.workflow_id
    print(f"wrote {path} ({len(history.events)} events)")


async def record_fanout() -> None:
    async with fanout_recording() as (client, ids):
        for name, scenario in scenarios.SCENARIOS.items():
            workflow_id, run_id = await scenario(client, "record-fanout", "rec")
            found = await histories(client, workflow_id, run_id)
            tickets = 0
            for n, history in enumerate(found):
                kind = workflow_type(history)
                if name == "batch" and kind == names.TICKET_WORKFLOW:
                    tickets += 1
                    if tickets > TICKETS_KEPT_PER_BATCH:
                        continue
                save(history, f"{kind.lower()}-{FANOUT_VERSION}-{name}-{n}", ids)


# A batch after restarts-as-submitted: two of its three tickets were ended (terminated) before
# the batch, so their child starts (in one workflow task) are refused and the restart activity
# starts them again.
BATCH_RESTART_VERSION = "v4"
# v4: grouped-restarts (one restart_tickets activity for the group's refused starts); v3: one
# restart_ticket activity per refused start.


async def record_batch_restart() -> None:
    from shared.batch import BatchProgress, BatchSettings, BatchState
    from shared.view import TicketRequest

    async with fanout_recording() as (client, ids):
        tickets = [
            scenarios.sample_ticket(t).model_copy(update={"ticket_id": f"{t}-restart"})
            for t in ("T-1001", "T-1002", "T-1003")
        ]
        for ticket in tickets[:2]:
            # Started where no worker polls, then ended by an operator: the id is taken.
            ended = await client.start_workflow(
                names.TICKET_WORKFLOW,
                TicketRequest(ticket=ticket),
                id=names.ticket_workflow_id(ticket.ticket_id),
                task_queue="record-nobody-polls",
            )
            await ended.terminate("recorded: ended before the batch")
        handle = await client.start_workflow(
            names.BATCH_WORKFLOW,
            args=[tickets, BatchState(settings=BatchSettings(window=3))],
            id="replay-batch-restart",
            task_queue="record-fanout",
            result_type=BatchProgress,
        )
        result = await handle.result()
        if (result.started, result.already_known) != (3, 0):
            raise RuntimeError(f"the ended tickets were not started again: {result}")
        for t in tickets:
            await client.get_workflow_handle(names.ticket_workflow_id(t.ticket_id)).result()
        name = f"batchworkflow-{BATCH_RESTART_VERSION}-batch-restart"
        save(await handle.fetch_history(), name, ids)


async def record_cancel_meets_send(version: str = TICKETS_VERSION) -> None:
    """tests/delivery/test_cancel_meets_the_send.py's race, the answer out: the ticket cancelled
    in the workflow task that also holds its queued delivery's success."""
    from tests.delivery.test_cancel_meets_the_send import cancelled_as_the_send_ends
    from tests.support.webhook_receiver import Reply

    async with dev_recording() as (client, data_dir, ids):
        ended = await cancelled_as_the_send_ends(
            client, "record-cancel", data_dir, Reply(hang=True)
        )
        history = await ended.handle.fetch_history()
        save(history, f"ticket-{version}-cancelled-as-its-send-ended", ids)


# A swarm that kept an earlier run's results (SwarmState.carried).
SWARM_KEPT_VERSION = "v1"
# A swarm of one chunk: v1 recorded with the code before single-chunk-inline (at 5349bb6: the
# chunk a child), v2 with it (no child).
SWARM_ONE_CHUNK_VERSION = "v2"


async def record_swarm(scenario: scenarios.Scenario, name: str, version: str) -> None:
    """One swarm scenario's histories, the swarm's and its chunks', as
    ``<type>-<version>-<name>-<n>``."""
    async with fanout_recording() as (client, ids):
        workflow_id, run_id = await scenario(client, "record-fanout", "rec")
        for n, history in enumerate(await histories(client, workflow_id, run_id)):
            kind = workflow_type(history)
            save(history, f"{kind.lower()}-{version}-{name}-{n}", ids)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.replay.record_histories")
    parser.add_argument(
        "what",
        nargs="?",
        choices=[
            "tickets",
            "fanout",
            "batch-restart",
            "controller",
            "declared-controller",
            "first-climb-controller",
            "cancel-meets-send",
            "swarm-kept",
            "swarm-one-chunk",
            "paths",
            "payload-gc",
            "all",
        ],
        default="all",
    )
    parser.add_argument(
        "--version", default=TICKETS_VERSION, help=f"ticket files' version ({TICKETS_VERSION})"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="only these ticket scenarios (repeatable), e.g. the paths a new patch changed",
    )
    args = parser.parse_args(argv)
    FOLDER.mkdir(exist_ok=True)
    if args.what in ("tickets", "all"):
        await record_tickets(args.version, args.scenario)
    if args.what in ("fanout", "all"):
        await record_fanout()
    if args.what in ("batch-restart", "all"):
        await record_batch_restart()
    if args.what in ("controller", "all"):
        await record_controller()
    if args.what in ("declared-controller", "all"):
        await record_declared_controller()
    if args.what in ("first-climb-controller", "all"):
        await record_first_climb_controller()
    if args.what in ("cancel-meets-send", "all"):
        await record_cancel_meets_send(args.version)
    if args.what in ("swarm-kept", "all"):
        await record_swarm(scenarios.swarm_kept, "swarm-kept", SWARM_KEPT_VERSION)
    if args.what in ("swarm-one-chunk", "all"):
        await record_swarm(scenarios.swarm_one_chunk, "swarm-one-chunk", SWARM_ONE_CHUNK_VERSION)
    if args.what in ("paths", "all"):
        record_paths()
    if args.what in ("payload-gc", "all"):
        async with dev_recording() as (client, data_dir, ids):
            await record_payload_gc(client, data_dir, ids)
    return 0


if __name__ == "__main__":
    from shared.temporal_client import exit_process

    exit_process(asyncio.run(main(sys.argv[1:])))
