"""The worker process: runs the ticket workflows and the activities on their task queues.

    python -m worker                  # every queue the configuration needs
    python -m worker --queues tickets,delivery   # workflows, non-LLM activities and delivery
    python -m worker --queues llm-openai         # agent calls to one provider (holds its key)

A worker builds and checks only the providers whose queues it polls (docs/deploy.md).

Run it on as many machines as you like against the same Temporal server and the same
TICKETS_DATABASE_URL (the delivery ledger and the payload store): that is how the pipeline scales
out. Stop it with Ctrl-C (or SIGTERM); in-flight activities get time to finish.

With TICKETS_METRICS_ADDRESS=host:port it serves Prometheus metrics on http://host:port/metrics
(Temporal's SDK metrics and the product's; docs/observability.md). Traces are exported when the
standard OTEL_EXPORTER_OTLP_* variables are set. With TICKETS_HEALTH_ADDRESS=host:port it serves
/healthz and /readyz (shared/health.py). Asked to stop, it gives in-flight activities up to the
longest agent attempt to finish (TICKETS_SHUTDOWN_GRACE_SECONDS; shared/shutdown.py). With
TICKETS_WORKER_DEPLOYMENT and TICKETS_WORKER_BUILD_ID its workers are that build of a Worker
Deployment (shared/worker_versioning.py; docs/deploy.md, "Worker versioning").
"""

from shared.early_signals import catch_early_stops, early_stop, release_early_stops

# First, before the imports of a second or more: a SIGTERM to a PID 1 without a handler is
# dropped (shared/early_signals.py). Only as the program: a test importing this module keeps
# its own handlers (pytest's Ctrl-C).
if __name__ == "__main__":
    catch_early_stops()

from shared.background import stop_background
from shared.project_python import require_project_python

require_project_python("worker")

from shared.otel_env import require_usable_otel_env

require_usable_otel_env("worker")

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.delivery.activity import DeliveryActivities
from activities.providers.errors import ProviderCheckError
from activities.providers.registry import models_in_use
from shared import log_privacy, names, settings, telemetry
from shared.data_converter import data_converter, describe_encryption, key_ring_of
from shared.health import (
    HEALTH_ADDRESS_ENV,
    HealthServer,
    HealthState,
    database_check,
    start_health_server,
    temporal_check,
)
from shared.metrics import (
    forward_core_logs,
)
from shared.metrics import (
    metrics_runtime_from_env as metrics_runtime,
)
from shared.payload_gc_renewal import renew_before_retirement
from shared.payload_gc_watch import watch_collection
from shared.search_attribute_setup import SearchAttributeSetupError, ensure_search_attributes
from shared.shutdown import run_until_stopped, shutdown_grace, stopping, until_stopped_or_done
from shared.stores.errors import StoreUnavailable
from shared.stores.factory import Stores, open_stores
from shared.temporal_client import (
    ClientConfigError,
    connect,
    connection_settings,
    exit_process,
    unreachable_cause,
)
from shared.ticket_listing import first_undecryptable_ticket
from shared.worker_gauges import VisibilityGauges, zero_alerted_counters
from shared.worker_versioning import Routed, RoutingProbe
from task_queue_workers import (
    build_workers,
    release_controller_rates,
)
from worker_config import (
    CONFIG_ERRORS,
    Configured,
    check_config,
    configured,
    describe_configuration,
    more_settings,
)

log = logging.getLogger("worker")


async def run(
    queues: Sequence[str] | None, stop: asyncio.Event, polling: asyncio.Event | None = None
) -> int:
    """The worker's life; ``polling`` is set when its checks are done and it begins to poll."""
    try:
        checked = configured(queues)
    except CONFIG_ERRORS as err:
        print(f"worker: configuration error: {err}", file=sys.stderr)
        return 2
    try:
        try:
            runtime, metrics_address = metrics_runtime()
            more_settings(checked.loaded)
        except CONFIG_ERRORS as err:
            print(f"worker: configuration error: {err}", file=sys.stderr)
            return 2
        observed = Observability(runtime, metrics_address, checked.spend_limit)
        return await _check_and_serve(checked, stop, observed, polling)
    finally:
        # Also when a setting, the check or the stores stop it: an open aiohttp session says so
        # at exit.
        for provider in checked.providers.values():
            await provider.aclose()


async def _check_and_serve(
    checked: Configured,
    stop: asyncio.Event,
    observed: "Observability",
    polling: asyncio.Event | None = None,
) -> int:
    try:
        models = models_in_use(checked.loaded.pipeline)
        for name, provider in checked.providers.items():
            if warning := await provider.check(models.get(name, ())):
                print(f"worker: warning: {warning}", file=sys.stderr)
    except ProviderCheckError as err:
        print(f"worker: {err}", file=sys.stderr)
        return 2
    try:
        # Connected and migrated now: a wrong URL or an unreachable database stops the worker
        # here, in one sentence, before it takes any task.
        stores = await open_stores()
    except settings.ConfigError as err:
        print(f"worker: configuration error: {err}", file=sys.stderr)
        return 2
    except StoreUnavailable as err:
        print(f"worker: {err}", file=sys.stderr)
        return 1
    delivery = DeliveryActivities(
        stores.ledger,
        checked.delivery_config,
        polls_delivery=names.DELIVERY_TASK_QUEUE in checked.polled,
    )
    try:
        return await serve(checked, stores, delivery, stop, observed, polling=polling)
    finally:
        await delivery.aclose()
        await stores.close()


@dataclass(frozen=True)
class Observability:
    """What the process serves about itself: the runtime behind /metrics (None when
    TICKETS_METRICS_ADDRESS is unset), where, and the spend limit the gauges report."""

    runtime: Runtime | None
    metrics_address: str | None
    spend_limit: float | None


async def serve(
    checked: Configured,
    stores: Stores,
    delivery: DeliveryActivities,
    stop: asyncio.Event,
    observed: "Observability",
    *,
    polling: asyncio.Event | None = None,
) -> int:
    loaded, queues = checked.loaded, checked.polled
    config = loaded.pipeline
    conn = connection_settings()
    runtime = observed.runtime
    try:
        client = await connect(conn, runtime=runtime, converter=data_converter(stores.payloads))
    except RuntimeError as err:
        print(
            f"worker: cannot reach Temporal at {conn.describe()}: {unreachable_cause(err)}. "
            "Start one (`make run RUN_ARGS=--keep-running` does), or set TEMPORAL_ADDRESS.",
            file=sys.stderr,
        )
        return 1
    except (settings.ConfigError, ClientConfigError) as err:  # a key ring, a store, a namespace
        print(f"worker: configuration error: {err}", file=sys.stderr)
        return 2
    has_ring = key_ring_of(client.data_converter) is not None
    if (held := await _encrypted_running(client)) and not has_ring:
        # It could read none of them: every task of theirs would fail, over and over.
        print(
            f"worker: this server's tickets are encrypted (ticket {held} among them) and this "
            "worker has no key ring, so it could not read them: run it from the directory "
            "whose data/ holds encryption-keys.json, or give it the ring "
            "(TICKETS_ENCRYPTION_KEYS or TICKETS_ENCRYPTION_KEY_FILE)",
            file=sys.stderr,
        )
        return 2
    if held:
        # A ring without their key: a data directory's own development ring, found because the
        # cluster's was not given, or a key retired too early. Said loudly, not refused: `make
        # run` goes on to report such tickets as unreadable (a cluster worker would also start
        # new tickets under a key no other process has).
        print(
            f"worker: warning: running ticket {held} is encrypted with a key this worker's ring "
            "does not hold: its tasks fail here. On a cluster, give every process the same ring "
            "(TICKETS_ENCRYPTION_KEYS or TICKETS_ENCRYPTION_KEY_FILE)",
            file=sys.stderr,
        )
    try:
        registered = await ensure_search_attributes(client)
    except SearchAttributeSetupError as err:
        print(f"worker: {err}", file=sys.stderr)
        return 1
    # Set by a worker that failed for good (its polling): all stop together, at once.
    failed = asyncio.Event()
    health: HealthServer | None = None

    async def fatal_error(err: BaseException) -> None:
        failed.set()
        if health is not None:
            health.state.fail()

    try:
        grace = shutdown_grace(config)
        workers = build_workers(
            client,
            config,
            checked.providers,
            queues,
            delivery=delivery,
            worker_settings=loaded.worker,
            graceful_shutdown=grace,
            sandboxed=checked.sandboxed,
            deployment=checked.versioning.worker_config() if checked.versioning else None,
            on_fatal_error=fatal_error,
        )
        health = await serve_health(workers, client, stores)
    except settings.ConfigError as err:
        print(f"worker: {err}", file=sys.stderr)
        return 2
    try:
        released = await release_controller_rates(client, queues, loaded.worker)
    except RPCError as err:  # the worker still runs; the old rate stays until the next start
        released = [f"warning: could not check the provider queues' rates: {err.message}"]
    if names.TICKETS_TASK_QUEUE in queues:  # the queue the collection's runs are on
        try:
            if renewed := await renew_before_retirement(client):
                released.append(renewed)
        except RPCError as err:
            released.append(
                f"warning: could not check the payload collection's schedule: {err.message}"
            )
    print(f"worker: connected to {conn.describe()}; configuration from {loaded.source}")
    print(f"worker: {describe_encryption(client.data_converter)}")
    if registered:
        print(f"worker: registered search attributes {', '.join(registered)}")
    describe_configuration(loaded, queues)
    # Delivery runs on the delivery queue, and its first attempt on the tickets queue.
    delivers = bool({names.TICKETS_TASK_QUEUE, names.DELIVERY_TASK_QUEUE} & set(queues))
    lines = [*stores.describe(), *(delivery.config.describe() if delivers else []), *released]
    if delivers and not delivery.polls_delivery and not delivery.config.default_chosen:
        lines.append(
            "delivery: no default chosen here (TICKETS_DELIVERY_CHANNEL unset): first attempts "
            "of the ticket channels without their own go to the delivery workers"
        )
    for line in [*lines, telemetry.describe_tracing()]:
        print(f"worker: {line}")
    if delivers and (private := stores.private_ledger_warning(conn.address)):
        print(f"worker: {private}", file=sys.stderr)
    if checked.versioning is not None:
        print(f"worker: {checked.versioning.describe()}")
    probe = RoutingProbe(queues[0], queues[0] != names.TICKETS_TASK_QUEUE, checked.versioning)
    routed, said = await probe.ask(client)
    if said and routed is Routed.TAKES:
        print(f"worker: {said}")
    elif said:
        print(f"worker: warning: {said}", file=sys.stderr)
    if not checked.sandboxed:
        print("worker: workflows run without the SDK's sandbox (TICKETS_WORKFLOW_SANDBOX=off)")
    gauges: asyncio.Task[None] | None = None
    if runtime is not None:
        print(f"worker: metrics on http://{observed.metrics_address}/metrics")
        meter = runtime.metric_meter
        if names.TICKETS_TASK_QUEUE in queues:  # where ticket workflows run and finish
            zero_alerted_counters(meter, client.namespace)
        gauges = asyncio.create_task(
            VisibilityGauges(
                client,
                meter,
                observed.spend_limit,
                replicas=checked.replicas,
                routing=probe,
                collection=watch_collection,
            ).run()
        )
    if health is not None:
        print(f"worker: health on http://{health.address}/healthz and /readyz")
    print(
        f"worker: polling {', '.join(queues)}; Ctrl-C to stop (in-flight work gets "
        f"{grace.total_seconds():g}s to finish)",
        flush=True,
    )
    if polling is not None:
        polling.set()  # from here a stop is run_until_stopped's: the grace for work in flight
    try:
        failure = await run_until_stopped(
            workers, stop, on_stop=health.state.start_draining if health else None, failed=failed
        )
    finally:
        if health is not None:
            await health.close()
        if gauges is not None:
            await stop_background(gauges)
    if failure is not None:
        print(f"worker: stopped after an error: {failure}", file=sys.stderr)
        return 1
    print("worker: stopped", flush=True)
    return 0


async def _encrypted_running(client: Client) -> str | None:
    """A running ticket this worker cannot decrypt, with no key ring or another one (closed ones
    give it no task); None also when the server's visibility cannot say (the check is a
    courtesy)."""
    try:
        return await first_undecryptable_ticket(client, running=True)
    except RPCError as err:
        print(
            f"worker: warning: could not check for encrypted tickets: {err.message}",
            file=sys.stderr,
        )
        return None


async def serve_health(
    workers: Sequence[Worker], client: Client, stores: Stores
) -> HealthServer | None:
    """/healthz and /readyz on TICKETS_HEALTH_ADDRESS, when set: the workers polling, Temporal
    and the shared database answering (docs/deploy.md)."""
    address = os.environ.get(HEALTH_ADDRESS_ENV, "").strip()
    if not address:
        return None
    checks = {"temporal": temporal_check(client)}
    if stores.database is not None:
        checks["database"] = database_check(stores.database)
    return await start_health_server(address, HealthState(workers, checks))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--queues",
        help="comma-separated task queues to poll (default: tickets, delivery and every provider "
        "queue the agent routes use)",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        # A level logging does not know was a traceback at start (ValueError: Unknown level).
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="Python log level (default WARNING)",
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="check the configuration (file, environment, provider settings) as at start-up, "
        "print what a worker would run with (agents, providers, the SLA with each priority's "
        "deadline for a ticket triaged now) and exit: 0 usable, 2 not; connects to nothing",
    )
    args = parser.parse_args(argv)
    # Read once; None: every queue.
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
    if args.queues is not None and not queues:
        # An unset template variable (--queues "$QUEUES"): it polled every queue, an agent-only
        # deployment running workflows without a word.
        parser.error("--queues names no queue; leave it out to poll every queue")
    if args.check_config:
        # No loop takes the signals over here: Ctrl-C recorded by the early handlers was ignored.
        if (early := release_early_stops()) is not None:
            return 128 + early
        return asyncio.run(check_config(queues))
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The SDK logs a failed activity or workflow task with its message and traceback, which may
    # quote a ticket: those lines keep the ids and the exception's type only.
    log_privacy.install()
    # The core's warnings as Python log lines, without terminal colour codes (the runtime made
    # for metrics forwards them the same way).
    forward_core_logs()

    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping, stop, sig)
        if (early := early_stop()) is not None:
            stopping(stop, early)  # asked while the imports ran
        return await until_stopped_or_done(
            run(queues, stop, polling := asyncio.Event()), stop, polling
        )

    return asyncio.run(_main())


if __name__ == "__main__":
    exit_process(main())
