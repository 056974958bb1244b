"""One Temporal Worker per task queue, as the worker process (and tests, and benchmarks) run them.

The tickets queue carries the workflows and the non-LLM activities; the delivery queue carries
delivery; each provider queue (``llm-<provider>``) carries the agent activities for that
provider, with its rate limit set on the queue; where an adaptive provider's queue is polled,
the rate-control queue is too (docs/rate-control.md).
"""

import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import (
    PollerBehavior,
    PollerBehaviorAutoscaling,
    PollerBehaviorSimpleMaximum,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkerDeploymentConfig,
)

from activities.agent_activities import AgentActivities
from activities.delivery.activity import DeliveryActivities
from activities.knowledge_base import KnowledgeBase
from activities.payload_gc import collect_payloads_activity
from activities.providers.base import Provider
from activities.providers.registry import providers_in_use
from activities.queue_rate import release_controller_rate, set_queue_rate
from activities.rate_reports import OutcomeReporter, ReportingWorker
from activities.ticket_activities import TicketActivities
from shared import names, settings
from shared.bytecode import compile_workflow_modules
from shared.pipeline_config import PipelineConfig
from shared.provider_config import ProviderConfig, WorkerSettings
from shared.sandbox_contexts import DirectContextRunner
from shared.temporal_client import untraced
from workflows import ALL_WORKFLOWS
from workflows.rate_controller import ProviderRateController

# Time for in-flight activities to finish when workers built in-process (tests, benchmarks) stop.
# The worker process passes the grace derived from its configuration (shared/shutdown.py).
DEFAULT_GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# Workflow tasks one worker holds at once (the SDK's default is 100). A Python worker runs
# workflow code on one core: a burst of new tickets (each first task imports the workflow into a
# fresh sandbox) made the default 100 tasks take longer than the 10 s workflow-task timeout to
# get through, so the server timed them out and handed them out again, and the work done on them
# was lost: `bench ticket_cost` rounds with timeouts ran at 3.2-4.2 tickets/s, without them at
# 5.2-5.7 (docs/performance.md). With fewer slots the rest waits on the server, where waiting
# costs nothing, times out nothing, and is dispatched fairly between customers: with 10 slots
# another customer's ticket behind a burst of 200 came to rest in 7 s, with 20 in 13-16 s (both
# before the poller split below), with the same throughput (5 and 2 slots: no faster for that
# ticket, 2 slower for the burst). A workflow task also holds its slot while its local
# activities run: a delivery's first attempt to a destination that hangs holds one for up to
# the channel's client timeout (10 s).
WORKFLOW_TASK_SLOTS = 10
# Workflow task polls: five at most, one on the shared queue (new tickets' first tasks) and four
# on this worker's sticky queue (the next task of a ticket it already runs): the SDK's own count
# and split, kept here on purpose. With the pollers' autoscaler (on this queue until 2026-12-04),
# which adds pollers where the server reports a backlog (a burst's new tickets, on the shared
# queue), a ticket already under way waited 0.6-0.9 s for each of its later tasks during a burst:
# no fairness key orders tasks across two queues. A worker caching nothing has no sticky queue
# and one poll at a time. `bench fairness`, the two settings in turn (docs/performance.md):
# another customer's ticket behind a burst of 200 at rest in 2.5-3.1 s with this split against
# 4.1-5.6 s with the autoscaler, the tickets' rate the same (`bench ticket_cost`: 9.65 against
# 9.68/s).
WORKFLOW_TASK_POLLERS = PollerBehaviorSimpleMaximum(5)
# A paced provider's queue (a rate configured, declared or learnt, shared out among the workers:
# activities/providers/peers.py) keeps a fixed number of activity polls on every worker. The
# autoscaler adds polls on a worker whose polls bring tasks, so the server's matching, handing
# each task to a waiting poll, gave that worker ever more of the queue's rate; each worker sends
# only its share, so what one took beyond it waited while the other had nothing to send.
# `python -m bench llm_rate_limit --tickets 150 --limited-only --workers 2`, with a line per call
# of which worker got it when: autoscaled, 14, 8, 6 and 10 tasks in the first four seconds to
# one worker and 7, 2, 4 and 0 to the other, 0.938-0.970 of the provider's limit over the run;
# fixed at five, 5 a second to each, 0.985-0.986 (one worker 0.988 either way). Five polls take
# tasks far faster than a paced rate; a queue with no rate (offline agents, a provider with
# neither a configured nor a learnt limit) stays autoscaled, which picks a burst's tasks up
# sooner (b20e7a9: the swarm's).
PACED_QUEUE_POLLS = 5


def provider_queue_pollers(config: ProviderConfig | None) -> PollerBehavior:
    """The activity pollers of a provider's queue: fixed where its calls are paced (never more
    than the worker's slots for them, or the SDK keeps that many), autoscaled otherwise."""
    if config is None or not config.paced():
        return PollerBehaviorAutoscaling()
    return PollerBehaviorSimpleMaximum(min(PACED_QUEUE_POLLS, config.max_concurrent))


SHARED_QUEUE_POLL_SHARE = 0.2
# How long a workflow task (or a query) waits on this worker's sticky queue before the server
# gives it to any worker polling the shared queue. The server tries a query on the sticky queue
# of the worker that last ran the workflow for this long, then resets stickiness and asks the
# shared queue; with the SDK's 10 s, a status query in the first seconds after that worker
# crashed ran into its own 10 s timeout (shared/ticket_status.py QUERY_TIMEOUT) and said no worker
# answered, though another was polling; a review waited as long. 5 s is the Go SDK's default.
# A live worker takes its sticky tasks in milliseconds (a slot frees every few); one whose slots
# are all held longer (local deliveries to a hanging destination) loses the cache for that run:
# the task times out (an event in the history) and is replayed wherever it is taken.
STICKY_QUEUE_TIMEOUT = timedelta(seconds=5)
# The offline provider answers in microseconds; this only bounds memory under a large backlog.
OFFLINE_MAX_CONCURRENT = 64


def needed_queues(config: PipelineConfig) -> list[str]:
    return [
        names.TICKETS_TASK_QUEUE,
        names.DELIVERY_TASK_QUEUE,
        *(names.llm_task_queue(p) for p in providers_in_use(config)),
    ]


def provider_of(queue: str) -> str:
    return queue.removeprefix("llm-")


def polled_providers(queues: Sequence[str]) -> set[str]:
    """The providers a worker polling ``queues`` calls: those whose queue it polls."""
    return {provider_of(q) for q in queues if q.startswith("llm-")}


def check_queues(queues: Sequence[str], loaded: settings.Settings) -> None:
    """Refuses (ConfigError) queues given with ``--queues`` that no worker of this
    configuration serves, and a workflows' worker whose agent routes it would pick from its own
    provider keys while other workers make the calls: without keys it would send every agent
    to the offline queue, which nobody polls, and the tickets would wait there."""
    known = [
        names.TICKETS_TASK_QUEUE,
        names.DELIVERY_TASK_QUEUE,
        *(names.llm_task_queue(p) for p in ["offline", *loaded.worker.providers]),
    ]
    if unknown := [q for q in queues if q not in known]:
        raise settings.ConfigError(
            f"--queues: unknown task queue {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(known)})"
        )
    if twice := sorted({q for q in queues if queues.count(q) > 1}):
        # Two workers of one process on one queue: the SDK refuses the second as the worker
        # starts, after connecting (a traceback where --check-config had said it could start).
        raise settings.ConfigError(f"--queues: {', '.join(map(repr, twice))} given twice")
    if names.TICKETS_TASK_QUEUE not in queues or not loaded.routes_from_keys:
        return
    polled = polled_providers(queues)
    elsewhere = sorted(
        {
            route.provider
            for role in loaded.routes_from_keys
            for route in loaded.pipeline.routes.get(role, [])
        }
        - polled
    )
    if elsewhere:
        raise settings.ConfigError(
            f"--queues: this worker runs the workflows but not the calls to "
            f"{', '.join(elsewhere)}, and its agents' routes come from the provider keys it "
            "sees; name them so that every worker routes alike: TICKETS_PROVIDER, "
            "TICKETS_AGENT_<ROLE> or [agents] in the configuration file (docs/deploy.md)"
        )


def build_workers(
    client: Client,
    config: PipelineConfig,
    providers: dict[str, Provider],
    queues: Sequence[str],
    *,
    delivery: DeliveryActivities,
    worker_settings: WorkerSettings | None = None,
    tickets_queue: str = names.TICKETS_TASK_QUEUE,
    max_cached_workflows: int = 1000,
    graceful_shutdown: timedelta = DEFAULT_GRACEFUL_SHUTDOWN,
    sandboxed: bool = True,
    deployment: WorkerDeploymentConfig | None = None,
    on_fatal_error: Callable[[BaseException], Awaitable[None]] | None = None,
) -> list[Worker]:
    """One Worker per task queue: the tickets queue carries workflows and non-LLM activities; the
    delivery queue carries delivery, at most ``delivery.config.concurrency`` at once, so a
    destination that hangs never holds agents or workflows; each provider queue carries the agent
    activities for that provider, with the provider's rate limit set on the queue (enforced by the
    server for all workers together). Tests pass their own ``tickets_queue`` (its delivery queue
    follows) to keep tests apart on one server, and ``max_cached_workflows=0`` to make every
    workflow task replay the history so far. ``graceful_shutdown``: how long in-flight
    activities may run on once the workers are asked to stop. ``sandboxed=False`` runs the
    workflows without the SDK's sandbox (TICKETS_WORKFLOW_SANDBOX=off; docs/performance.md).
    ``deployment``: every worker is that version of a Worker Deployment
    (shared/worker_versioning.py); None: unversioned. ``on_fatal_error``: called by the SDK when
    a worker fails for good, before it drains (shared/shutdown.py run_until_stopped)."""
    worker_settings = worker_settings or WorkerSettings()
    # The sandbox imports each workflow's module again per workflow: from bytecode, not source.
    compile_workflow_modules()
    # The rate-control plumbing (reports, controllers) is not traced: shared/temporal_client.py.
    rate_client = untraced(client)
    reporters = rate_reporters(rate_client, queues, worker_settings, tickets_queue)
    agent_activities = AgentActivities(providers, worker_settings.trim_body_tokens, reporters)
    delivery_queue = names.delivery_task_queue(tickets_queue)
    # The SDK's sandbox, minus its re-entry for every payload's context
    # (shared/sandbox_contexts.py); without it, workflows run in the worker's own modules (the
    # determinism rules still hold: tests/workflow/test_sandbox_off.py).
    runner: dict[str, Any] = {
        "workflow_runner": DirectContextRunner() if sandboxed else UnsandboxedWorkflowRunner()
    }
    # The same build on every queue: the server sends a versioned workflow's tasks, and its
    # activities, to the build it is on (docs/deploy.md, "Worker versioning").
    versioned: dict[str, Any] = {"deployment_config": deployment} if deployment else {}
    if on_fatal_error is not None:
        versioned["on_fatal_error"] = on_fatal_error
    workers = []
    for queue in queues:
        if queue == tickets_queue:
            ticket_activities = TicketActivities(config, KnowledgeBase.bundled())
            workers.append(
                Worker(
                    client,
                    task_queue=queue,
                    workflows=ALL_WORKFLOWS,
                    # Delivery here too: tickets started before delivery had its own queue
                    # (the delivery-queue patch) still schedule it on this one, and tickets
                    # since lean-history make their first attempt here as a local activity.
                    activities=[
                        *ticket_activities.all(),
                        delivery.deliver_response,
                        delivery.deliver_response_now,
                        delivery.find_sent_delivery,
                        # The scheduled payload collection (workflows/payload_gc.py), with the
                        # client's own payload store.
                        collect_payloads_activity,
                    ],
                    max_cached_workflows=max_cached_workflows,
                    # A worker that caches nothing takes one workflow task at a time: with
                    # more, the next task evicts a run whose local activity is still running
                    # (the SDK cancels it), and that run's task times out after ten seconds.
                    max_concurrent_workflow_tasks=WORKFLOW_TASK_SLOTS
                    if max_cached_workflows
                    else 1,
                    workflow_task_poller_behavior=WORKFLOW_TASK_POLLERS,
                    nonsticky_to_sticky_poll_ratio=SHARED_QUEUE_POLL_SHARE,
                    activity_task_poller_behavior=PollerBehaviorAutoscaling(),
                    sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
                    graceful_shutdown_timeout=graceful_shutdown,
                    **versioned,
                    **runner,
                )
            )
        elif queue == delivery_queue:
            workers.append(
                Worker(
                    client,
                    task_queue=queue,
                    activities=[delivery.deliver_response],
                    max_concurrent_activities=delivery.config.concurrency,
                    activity_task_poller_behavior=PollerBehaviorAutoscaling(),
                    graceful_shutdown_timeout=graceful_shutdown,
                    **versioned,
                )
            )
        elif queue.startswith("llm-"):
            name = provider_of(queue)
            provider_config = worker_settings.providers.get(name)
            reporter = reporters.get(name)
            # An adaptive provider's worker starts the queue's controller before it polls.
            queue_worker = (
                functools.partial(ReportingWorker, reporter=reporter) if reporter else Worker
            )
            workers.append(
                queue_worker(
                    client,
                    task_queue=queue,
                    activities=agent_activities.all(),
                    max_concurrent_activities=(
                        provider_config.max_concurrent
                        if provider_config
                        else OFFLINE_MAX_CONCURRENT
                    ),
                    max_task_queue_activities_per_second=(
                        provider_config.activities_per_second() if provider_config else None
                    ),
                    activity_task_poller_behavior=provider_queue_pollers(provider_config),
                    graceful_shutdown_timeout=graceful_shutdown,
                    **versioned,
                )
            )
        else:
            raise settings.ConfigError(f"unknown task queue {queue!r}")
    if reporters:
        # Wherever an adaptive provider's queue is polled, so are its controllers.
        workers.append(
            Worker(
                rate_client,
                task_queue=names.rate_control_task_queue(tickets_queue),
                workflows=[ProviderRateController],
                activities=[set_queue_rate],
                max_cached_workflows=max_cached_workflows,
                sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
                graceful_shutdown_timeout=graceful_shutdown,
                **versioned,
                **runner,
            )
        )
    return workers


async def release_controller_rates(
    client: Client, queues: Sequence[str], worker_settings: WorkerSettings
) -> list[str]:
    """For each polled provider whose rate no controller sets any more (requests_per_minute
    configured, or neither the adaptive nor the declared limit on): remove a rate its queue's
    controller left (an API rate overrides the workers' for good). One line per queue released,
    for the worker's start-up output."""
    released = []
    for queue in queues:
        config = worker_settings.providers.get(provider_of(queue))
        if not queue.startswith("llm-") or config is None:
            continue
        if config.rate_control() is not None:
            continue  # its controller sets the rate
        why = (
            "requests_per_minute is configured, so the workers' rate applies"
            if config.requests_per_minute is not None
            else "no controller sets this provider's rate any more"
        )
        rate = await release_controller_rate(client, queue, why)
        if rate is not None:
            released.append(f"removed the rate controller's {rate:g}/s from {queue}: {why}")
    return released


def rate_reporters(
    client: Client, queues: Sequence[str], worker_settings: WorkerSettings, tickets_queue: str
) -> dict[str, OutcomeReporter]:
    """An outcome reporter for each polled provider with no requests_per_minute whose rate a
    controller sets (the adaptive limit, or the limit the provider declares): its queue's rate
    controller (a workflow on the rate-control queue) decides from their reports."""
    reporters = {}
    for queue in queues:
        config = worker_settings.providers.get(provider_of(queue))
        if config is None or not queue.startswith("llm-"):
            continue
        mode = config.rate_control()
        if mode is not None:
            reporters[provider_of(queue)] = OutcomeReporter(
                client,
                queue,
                names.rate_control_task_queue(tickets_queue),
                config.adaptive_start_rate,
                config.breaker_cool_down_seconds,
                headroom=config.rate_limit_headroom,
                mode=mode,
            )
    return reporters
