"""A bare workflow for comparison: N no-op activities one after another, nothing else (no search
attributes, no memo, no local activity). Its worker runs in its own process with the project's
client (the same data converter and tracing plugin as every client), as the ticket worker does.

Given a shape (one ``[patches, local activities, upserts, activities]`` list per workflow task,
read from a ticket's history by ``bench.ticket_cost``), it does what the ticket asks of Temporal
in each of its workflow tasks instead: patch markers, no-op local activities, upserts of one
keyword search attribute, and no-op activities. The ticket's Temporal work without its code.

    python -m bench.bare_workflow --queue Q     # the worker; prints "bare worker: polling" when up
"""

import argparse
import asyncio
import signal
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.worker import PollerBehaviorAutoscaling, UnsandboxedWorkflowRunner, Worker

with workflow.unsafe.imports_passed_through():
    from shared import search_attributes as sa

BARE_WORKFLOW = "BareWorkflow"
NOOP_ACTIVITY = "bare_noop"
# Like the ticket's agent calls: bounded, retried; a no-op never needs either.
NOOP_START_TO_CLOSE = timedelta(seconds=30)


@activity.defn(name=NOOP_ACTIVITY)
async def noop(step: int) -> int:
    return step


@workflow.defn(name=BARE_WORKFLOW)
class BareWorkflow:
    @workflow.run
    async def run(
        self,
        activities: int,
        activity_queue: str | None = None,
        shape: list[list[int]] | None = None,
    ) -> int:
        if shape is None:
            shape = [[0, 0, 0, 1]] * activities
        done = 0
        for step, (patches, local_activities, upserts, activity_calls) in enumerate(shape):
            for patch in range(patches):
                workflow.patched(f"shape-{step}-{patch}")
            for _ in range(local_activities):
                done += await workflow.execute_local_activity(
                    NOOP_ACTIVITY, step, result_type=int, start_to_close_timeout=NOOP_START_TO_CLOSE
                )
            for upsert in range(upserts):
                # The ticket's state: every server of the project registers it.
                workflow.upsert_search_attributes(
                    [sa.TICKET_STATE.value_set(f"STEP-{step}-{upsert}")]
                )
            for _ in range(activity_calls):
                done += await workflow.execute_activity(
                    NOOP_ACTIVITY,
                    step,
                    result_type=int,
                    task_queue=activity_queue,
                    start_to_close_timeout=NOOP_START_TO_CLOSE,
                )
        return done


def activity_queue_of(queue: str) -> str:
    return f"{queue}-activities"


async def serve(queue: str) -> None:
    from shared.bytecode import compile_modules
    from shared.sandbox_contexts import DirectContextRunner
    from shared.settings import workflow_sandbox
    from shared.temporal_client import connect  # the process's one client, as every process
    from task_queue_workers import (
        SHARED_QUEUE_POLL_SHARE,
        WORKFLOW_TASK_POLLERS,
        WORKFLOW_TASK_SLOTS,
    )

    # As the ticket worker does for its workflow modules: the sandbox imports this one per run.
    compile_modules([Path(__file__)])
    # The ticket worker's runner (TICKETS_WORKFLOW_SANDBOX, task_queue_workers.build_workers):
    # the SDK's stock sandbox here made each bare workflow pay the per-payload re-entries the
    # ticket worker does not (a review, 2026-12-07).
    sandboxed = workflow_sandbox()
    runner = DirectContextRunner() if sandboxed else UnsandboxedWorkflowRunner()
    client = await connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Configured as the ticket worker is (task_queue_workers.build_workers), so the comparison
    # is between the workflows, not between worker settings.
    async with (
        Worker(
            client,
            task_queue=queue,
            workflows=[BareWorkflow],
            activities=[noop],
            workflow_runner=runner,
            max_concurrent_workflow_tasks=WORKFLOW_TASK_SLOTS,
            workflow_task_poller_behavior=WORKFLOW_TASK_POLLERS,
            nonsticky_to_sticky_poll_ratio=SHARED_QUEUE_POLL_SHARE,
            activity_task_poller_behavior=PollerBehaviorAutoscaling(),
        ),
        Worker(
            client,
            task_queue=activity_queue_of(queue),
            activities=[noop],
            activity_task_poller_behavior=PollerBehaviorAutoscaling(),
        ),
    ):
        print(f"bare worker: polling (workflow sandbox {'on' if sandboxed else 'off'})", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_workflow")
    parser.add_argument("--queue", required=True)
    asyncio.run(serve(parser.parse_args().queue))


if __name__ == "__main__":
    from shared.temporal_client import exit_process

    main()
    exit_process(0)
