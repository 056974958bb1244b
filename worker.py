"""The worker process: runs the ticket workflows and the activities on their task queues.

    python worker.py                  # every queue the configuration needs
    python worker.py --queues tickets # only workflows and non-LLM activities

Run it on as many machines as you like against the same Temporal server: that is how the pipeline
scales out. Stop it with Ctrl-C (or SIGTERM); in-flight activities get time to finish.
"""

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from activities.agent_activities import AgentActivities
from activities.knowledge_base import KnowledgeBase
from activities.outbox import Outbox
from activities.providers.base import Provider
from activities.providers.offline import OfflineProvider
from activities.ticket_activities import TicketActivities
from shared import names, settings
from shared.pipeline_config import PipelineConfig
from shared.search_attribute_setup import SearchAttributeSetupError, ensure_search_attributes
from shared.temporal_client import connect, connection_settings, exit_process
from workflows.ticket import TicketWorkflow

# Time for in-flight activities to finish when the worker is asked to stop.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)

log = logging.getLogger("worker")


def outbox_path(data_dir: Path) -> Path:
    return data_dir / "outbox.sqlite3"


def build_providers(config: PipelineConfig) -> dict[str, Provider]:
    providers: dict[str, Provider] = {"offline": OfflineProvider()}
    wanted = {route.provider for chain in config.routes.values() for route in chain}
    unknown = wanted - providers.keys()
    if unknown:
        raise settings.ConfigError(
            f"unknown provider(s) in the agent routes: {', '.join(sorted(unknown))} "
            f"(available: {', '.join(sorted(providers))})"
        )
    return providers


def needed_queues(config: PipelineConfig) -> list[str]:
    providers = sorted({route.provider for chain in config.routes.values() for route in chain})
    return [names.TICKETS_TASK_QUEUE, *(names.llm_task_queue(p) for p in providers)]


def build_workers(
    client: Client,
    config: PipelineConfig,
    providers: dict[str, Provider],
    data_dir: Path,
    queues: Sequence[str],
    *,
    tickets_queue: str = names.TICKETS_TASK_QUEUE,
) -> list[Worker]:
    """One Worker per task queue: the tickets queue carries workflows and non-LLM activities, each
    provider queue carries the agent activities for that provider. (Tests pass their own
    ``tickets_queue`` to keep tests apart on one server.)"""
    workers = []
    agent_activities = AgentActivities(providers)
    for queue in queues:
        if queue == tickets_queue:
            ticket_activities = TicketActivities(
                config, KnowledgeBase.bundled(), Outbox(outbox_path(data_dir))
            )
            workers.append(
                Worker(
                    client,
                    task_queue=queue,
                    workflows=[TicketWorkflow],
                    activities=ticket_activities.all(),
                    graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
                )
            )
        elif queue.startswith("llm-"):
            workers.append(
                Worker(
                    client,
                    task_queue=queue,
                    activities=agent_activities.all(),
                    graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
                )
            )
        else:
            raise settings.ConfigError(f"unknown task queue {queue!r}")
    return workers


def describe_routes(config: PipelineConfig) -> list[str]:
    lines = []
    for role, chain in config.routes.items():
        route_text = " -> ".join(f"{r.provider}:{r.model}" for r in chain)
        lines.append(
            f"  {role:<10} {route_text}  (queue {names.llm_task_queue(chain[0].provider)})"
        )
    return lines


async def run(queues: Sequence[str] | None, stop: asyncio.Event) -> int:
    try:
        config = settings.load_pipeline_config()
        providers = build_providers(config)
    except settings.ConfigError as err:
        print(f"worker: configuration error: {err}", file=sys.stderr)
        return 2
    data_dir = settings.data_dir()
    conn = connection_settings()
    try:
        client = await connect(conn)
    except RuntimeError as err:
        print(f"worker: cannot reach Temporal at {conn.describe()}: {err}", file=sys.stderr)
        return 1
    try:
        registered = await ensure_search_attributes(client)
    except SearchAttributeSetupError as err:
        print(f"worker: {err}", file=sys.stderr)
        return 1
    queues = list(queues) if queues else needed_queues(config)
    try:
        workers = build_workers(client, config, providers, data_dir, queues)
    except settings.ConfigError as err:
        print(f"worker: {err}", file=sys.stderr)
        return 2
    for provider in providers.values():
        await provider.check()
    print(f"worker: connected to {conn.describe()}")
    if registered:
        print(f"worker: registered search attributes {', '.join(registered)}")
    print("worker: agents (provider:model, fallbacks after ->):")
    print("\n".join(describe_routes(config)))
    print(f"worker: outbox {outbox_path(data_dir)}")
    print(f"worker: polling {', '.join(queues)}; Ctrl-C to stop", flush=True)
    try:
        failure = await run_until_stopped(workers, stop)
    finally:
        for provider in providers.values():
            await provider.aclose()
    if failure is not None:
        print(f"worker: stopped after an error: {failure}", file=sys.stderr)
        return 1
    print("worker: stopped", flush=True)
    return 0


async def run_until_stopped(workers: Sequence[Worker], stop: asyncio.Event) -> BaseException | None:
    """Run every worker until ``stop`` is set or one of them fails; then shut all down together
    (each gets the graceful-shutdown time for its in-flight activities)."""
    runs = [asyncio.create_task(w.run()) for w in workers]
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([*runs, stopped], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    await asyncio.gather(*(w.shutdown() for w in workers if w.is_running), return_exceptions=True)
    results = await asyncio.gather(*runs, return_exceptions=True)
    return next((r for r in results if isinstance(r, BaseException)), None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--queues",
        help="comma-separated task queues to poll (default: tickets and every provider queue the "
        "agent routes use)",
    )
    parser.add_argument("--log-level", default="WARNING", help="Python log level (default WARNING)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None

    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run(queues, stop)

    return asyncio.run(_main())


if __name__ == "__main__":
    exit_process(main())
