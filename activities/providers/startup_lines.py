"""What the worker says about its agents and providers when it starts: each agent's route, each
provider's endpoint, key variable, timeout and rate, and an endpoint set that no agent uses."""

from collections.abc import Collection, Mapping
from typing import Final

from activities.providers.registry import OFFLINE, providers_in_use
from shared import names
from shared.pipeline_config import PipelineConfig
from shared.provider_config import WorkerSettings, default_providers
from shared.redaction import safe_url

# The endpoint variables a user sets to point a provider at a compatible server.
BASE_URL_VARIABLES: Final = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


def unused_endpoint_warnings(
    config: PipelineConfig, worker_settings: WorkerSettings, env: Mapping[str, str]
) -> list[str]:
    """An endpoint variable set for a provider no agent uses because its key is missing, and a
    provider table no route names: the agents ran elsewhere (offline) without a word (a local
    server needs a key variable set, to any value)."""
    in_use = providers_in_use(config)
    warnings = []
    for name, variable in BASE_URL_VARIABLES.items():
        provider = worker_settings.providers.get(name)
        key = provider.api_key_env if provider else None
        if env.get(variable) and name not in in_use and key and not env.get(key):
            warnings.append(
                f"{variable} is set, but {key} is not, so no agent uses {name}: set {key} (to "
                "any value, for a server that needs none)"
            )
    # A table of the user's own ([providers.vllm]) that no route names: the agents ran on
    # another provider (offline, without keys) and nothing said why.
    for name in sorted(set(worker_settings.providers) - set(default_providers()) - set(in_use)):
        warnings.append(
            f"[providers.{name}] is configured, but no agent's route uses it: name it in "
            f'[agents] (classifier = "{name}:<model>", ...) or set TICKETS_PROVIDER={name} '
            "(every agent then uses its small_model and large_model)"
        )
    return warnings


def key_routes_warning(
    routes_from_keys: Collection[str], config: PipelineConfig, env: Mapping[str, str]
) -> str | None:
    """On a cluster (a shared database), agents whose routes this worker picked from the
    provider keys it sees: a machine missing a key (a service without its environment file)
    routes those agents elsewhere, offline with no key at all, and the tickets whose first
    workflow task it runs get that route while the others get the cluster's."""
    if not routes_from_keys or not env.get("TICKETS_DATABASE_URL"):
        return None
    chosen = sorted(
        {f"{r.provider}:{r.model}" for role in routes_from_keys for r in config.routes[role][:1]}
    )
    return (
        f"the routes of {', '.join(sorted(routes_from_keys))} come from the provider keys this "
        f"worker sees ({', '.join(chosen)}): on a cluster, name them (TICKETS_PROVIDER, or "
        "[agents] in the configuration file) so that every worker routes alike"
    )


def describe_routes(config: PipelineConfig) -> list[str]:
    lines = []
    for role, chain in config.routes.items():
        route_text = " -> ".join(f"{r.provider}:{r.model}" for r in chain)
        lines.append(f"  {role:<10} {route_text}")
    return lines


def describe_providers(
    config: PipelineConfig, worker_settings: WorkerSettings, polled: Collection[str]
) -> list[str]:
    lines = []
    in_use = providers_in_use(config)
    # A provider whose queue it polls although its own routes do not name it (an agents'
    # worker whose routes were left to its keys) is described too: it is what it serves.
    for name in [*in_use, *sorted(set(polled) - set(in_use))]:
        queue = names.llm_task_queue(name)
        if name not in polled:
            lines.append(f"  {name:<10} called by the workers that poll {queue}, not this one")
            continue
        if name == OFFLINE:
            lines.append(
                f"  {name:<10} rules and the bundled knowledge base, no network (queue {queue})"
            )
            continue
        p = worker_settings.providers[name]
        # A base URL may carry credentials (user:password@, ?key=...): never print them.
        where = safe_url(p.base_url) if p.base_url else "the provider's default endpoint"
        key = f"key from {p.api_key_env}" if p.api_key_env else "no key"
        rate = (
            f"{p.requests_per_minute:g} requests/min -> "
            f"{p.activities_per_second():.2f} activities/s on the queue (server-enforced)"
            if p.requests_per_minute
            else "adaptive limit (learnt from its 429s, docs/rate-control.md)"
            if p.adapts_its_rate()
            else f"the limit it declares in its answers (requests or tokens/min) x "
            f"{p.rate_limit_headroom:g} (none until it declares one)"
            if p.rate_control() == "declared"
            else "no rate limit"
        )
        lines.append(
            f"  {name:<10} {where}, {key}, timeout {p.timeout_seconds:g}s, {rate}, "
            f"{p.max_concurrent} concurrent per worker (queue {queue})"
        )
    return lines
