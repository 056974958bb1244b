"""The worker's configuration, checked and described before it connects to anything: what
``python -m worker`` reads at start-up and ``python -m worker --check-config`` checks alone
(docs/deploy.md)."""

import ipaddress
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from activities.delivery.config import DeliveryConfig
from activities.providers.base import Provider
from activities.providers.errors import ProviderCheckError
from activities.providers.registry import build_providers
from activities.providers.startup_lines import (
    describe_providers,
    describe_routes,
    key_routes_warning,
    unused_endpoint_warnings,
)
from shared import settings, telemetry
from shared.config_summary import policy_lines
from shared.encryption.keyring import load_key_ring
from shared.health import HEALTH_ADDRESS_ENV, parse_address
from shared.metrics import METRICS_ADDRESS_ENV
from shared.pipeline_config import PipelineConfig
from shared.provider_config import WorkerSettings
from shared.shutdown import shutdown_grace
from shared.stores.config import StoreConfig
from shared.temporal_client import ClientConfigError, connection_settings
from shared.worker_gauges import GaugeSettingError, replicas_from_env, spend_limit_from_env
from shared.worker_versioning import Versioning, versioning_from_env
from task_queue_workers import check_queues, needed_queues, polled_providers


def unpriced_models(config: PipelineConfig, worker_settings: WorkerSettings) -> list[str]:
    # With a cost budget, load_settings already refused these (exit 2); without, a warning.
    return settings.unpriced_models(config, worker_settings)


# What a configuration the worker cannot use raises before it connects to anything.
CONFIG_ERRORS = (
    settings.ConfigError,
    ProviderCheckError,
    GaugeSettingError,
    telemetry.TelemetryConfigError,
    ClientConfigError,
)


@dataclass
class Configured:
    """The configuration a worker runs with, checked: everything read before it connects."""

    loaded: settings.Settings
    delivery_config: DeliveryConfig
    polled: list[str]
    providers: dict[str, Provider]
    spend_limit: float | None
    sandboxed: bool
    versioning: Versioning | None
    replicas: int | None = None  # TICKETS_WORKER_REPLICAS, for the worker alerts


def configured(queues: Sequence[str] | None) -> Configured:
    """The file, the environment and the provider settings, checked (CONFIG_ERRORS)."""
    loaded = settings.load_settings()
    delivery_config = DeliveryConfig.from_env()
    if queues:
        check_queues(queues, loaded)
    polled = list(queues) if queues else needed_queues(loaded.pipeline)
    versioning = versioning_from_env()
    spend_limit = spend_limit_from_env()
    replicas = replicas_from_env()
    sandboxed = settings.workflow_sandbox()
    telemetry.span_exporter_from_env()  # a tracing variable it cannot honour stops it here
    telemetry.check_trace_content()
    # Last, once nothing else can refuse: the caller closes them (worker.run). Only the
    # providers whose queues it polls: a worker for the workflows alone (--queues
    # tickets,delivery) holds no provider key.
    providers = build_providers(loaded.pipeline, loaded.worker, polled=polled_providers(polled))
    return Configured(
        loaded, delivery_config, polled, providers, spend_limit, sandboxed, versioning, replicas
    )


def more_settings(loaded: settings.Settings) -> None:
    """The process settings read at start-up besides the configuration (CONFIG_ERRORS): a bad
    address, a missing TLS file or a malformed value ended in a traceback, or hid behind
    "cannot reach Temporal", when read after the stores, Temporal and the search attributes."""
    connection_settings()
    shutdown_grace(loaded.pipeline)
    if address := os.environ.get(HEALTH_ADDRESS_ENV, "").strip():
        parse_address(address)
    # Read again where they are used (the stores, the data converter): here, a bad URL or key
    # ring is said before the provider checks, and by --check-config, which opens neither.
    StoreConfig.from_env()
    load_key_ring()


def check_metrics_address(address: str) -> None:
    """What the runtime serving /metrics binds: an IP address and a port (a host name is
    refused there, as "invalid socket address syntax")."""
    host, sep, port = address.rpartition(":")
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
        usable = bool(sep) and port.isdigit() and 0 < int(port) < 65_536
    except ValueError:
        usable = False
    if not usable:
        raise settings.ConfigError(
            f"{METRICS_ADDRESS_ENV}={address[:100]!r}: give an IP address and a port, such as "
            "127.0.0.1:9464"
        )


async def check_config(queues: Sequence[str] | None) -> int:
    """``--check-config``: what ``run`` reads before it connects, checked and described, and
    nothing started: 0 when a worker could start with it, 2 (and why) when not."""
    try:
        checked = configured(queues)
    except CONFIG_ERRORS as err:
        print(f"worker: configuration error: {err}", file=sys.stderr)
        return 2
    try:
        try:
            if address := os.environ.get(METRICS_ADDRESS_ENV, "").strip():
                check_metrics_address(address)  # bound by the worker as it starts, not here
            more_settings(checked.loaded)
        except CONFIG_ERRORS as err:
            print(f"worker: configuration error: {err}", file=sys.stderr)
            return 2
        print(f"worker: configuration from {checked.loaded.source}: a worker can start with it")
        print(f"worker: polling {', '.join(checked.polled)}")
        if checked.versioning is not None:
            print(f"worker: {checked.versioning.describe()}")
        describe_configuration(checked.loaded, checked.polled)
        return 0
    finally:
        for provider in checked.providers.values():
            await provider.aclose()


def describe_configuration(loaded: settings.Settings, queues: Sequence[str]) -> None:
    """The agents, the providers, the policy a ticket meets (its SLA in the calendar it
    counts in), and what in the configuration looks like a mistake."""
    config = loaded.pipeline
    for warning in unused_endpoint_warnings(config, loaded.worker, os.environ):
        print(f"worker: warning: {warning}", file=sys.stderr)
    if note := key_routes_warning(loaded.routes_from_keys, config, os.environ):
        print(f"worker: warning: {note}", file=sys.stderr)
    print("worker: agents (provider:model, fallbacks after ->):")
    print("\n".join(describe_routes(config)))
    print("worker: providers:")
    print("\n".join(describe_providers(config, loaded.worker, polled_providers(queues))))
    print("worker: policy:")
    print("\n".join(policy_lines(config, datetime.now(UTC))))
    for model in unpriced_models(config, loaded.worker):
        print(
            f"worker: warning: no price for model {model}; its cost is reported as 0",
            file=sys.stderr,
        )
    for model in settings.alias_priced_models(config, loaded.worker):
        print(
            f"worker: warning: model {model} has no price of its own and is priced as its "
            f'alias; add [prices."{model}"] if this snapshot costs another amount',
            file=sys.stderr,
        )
