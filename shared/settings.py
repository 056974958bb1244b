"""Process settings from the environment and the configuration file (never used in workflows).

Environment variables (all optional):
  TICKETS_DATA_DIR        where the embedded server's database, the delivery ledger and the
                          payloads live on one machine (./data)
  TICKETS_CONFIG          the pipeline configuration file (./config/pipeline.toml when present)
  TICKETS_PROVIDER        offline, openai or anthropic: the provider every agent uses when the
                          file names no [agents] routes (default: the first provider whose API
                          key is set, with the other one as fallback; offline when no key is set)
  OPENAI_API_KEY, ANTHROPIC_API_KEY
                          provider keys (read by the worker only, never stored or printed)
  OPENAI_BASE_URL, ANTHROPIC_BASE_URL
                          endpoints (any OpenAI-compatible server: Ollama, vLLM, LM Studio, ...)
  TICKETS_SLA_HOURS_<PRIORITY>, TICKETS_MAX_REVISION_ROUNDS, TICKETS_REVIEW_MIN_CONFIDENCE,
  TICKETS_REVIEW_URGENT, TICKETS_REVIEW_FINAL_DEADLINE_HOURS, TICKETS_SENSITIVE_CATEGORIES,
  TICKETS_AGENT_<ROLE>,
  TICKETS_BUDGET_MAX_TOKENS, TICKETS_BUDGET_MAX_COST_USD
                          override single values of the configuration file
Worker/process settings, read from the environment only (never part of the pipeline
configuration snapshot that goes into every ticket's history, so no credential reaches one):
  TICKETS_DATABASE_URL    postgresql://user:password@host:5432/db: the delivery ledger and the
                          payload store, shared by every worker machine (unset: SQLite and files
                          under TICKETS_DATA_DIR, one machine); docs/stores.md
  TICKETS_DATABASE_POOL_SIZE, TICKETS_PAYLOAD_OFFLOAD_BYTES
                          connections per process (10); payloads from this size leave the
                          history (131072); read by ``shared.stores.config``
  TICKETS_DELIVERY_CHANNEL, TICKETS_DELIVERY_CHANNEL_<CHANNEL>
                          ledger (default), webhook or email, for every ticket or the tickets of
                          one channel (EMAIL, CHAT, WEB, PHONE, API)
  TICKETS_DELIVERY_CONCURRENCY
                          deliveries at once per worker (16)
  TICKETS_WEBHOOK_URL, TICKETS_WEBHOOK_SECRET, TICKETS_WEBHOOK_TIMEOUT_SECONDS
                          the webhook channel: where, the HMAC-SHA256 key, per-request timeout
  TICKETS_SMTP_HOST, TICKETS_SMTP_PORT, TICKETS_SMTP_USERNAME, TICKETS_SMTP_PASSWORD,
  TICKETS_SMTP_FROM, TICKETS_SMTP_TLS, TICKETS_SMTP_TIMEOUT_SECONDS
                          the e-mail channel; read by ``activities.delivery.config``;
                          docs/delivery.md
  TICKETS_WORKFLOW_SANDBOX
                          on (default) or off: run workflows in the SDK's sandbox, or without it
                          for less worker CPU per ticket (docs/performance.md)
Temporal connection variables are read by ``shared.temporal_client``.
"""

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from shared.agents import AgentRole, AgentRoute
from shared.bounded_read import TooLarge, read_text_at_most
from shared.business_hours_zone import config_problem as business_hours_problem
from shared.config_errors import ConfigError
from shared.pipeline_config import LOADING, MAX_ROUTES, OFFLINE_ROUTE, PipelineConfig
from shared.provider_config import PROVIDER_NAME, WorkerSettings, default_providers
from shared.settings_env import env_overrides, table_at
from shared.toml_lines import key_lines, line_of
from workflows.options import AGENT_MIN_RETRY_WINDOW

DEFAULT_CONFIG_PATH = Path("config/pipeline.toml")
OFFLINE = "offline"
# Roles that draft customer-facing text get the provider's large model; the rest its small one.
LARGE_MODEL_ROLES = frozenset(
    {AgentRole.RESOLVER, AgentRole.PLANNER, AgentRole.WORKER, AgentRole.SYNTHESIZER}
)


@dataclass(frozen=True)
class Settings:
    pipeline: PipelineConfig  # travels to workflows (a snapshot per ticket): no secrets
    worker: WorkerSettings  # stays in the worker: endpoints, limits, prices
    source: str  # where the configuration came from, for messages
    # Agents whose routes come from the provider keys this process sees (no TICKETS_PROVIDER,
    # no TICKETS_AGENT_<ROLE>, no [agents] entry): another process, with other keys, would
    # route them elsewhere.
    routes_from_keys: tuple[AgentRole, ...] = ()


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    # Stripped, as every TICKETS_* value: "data " was another folder, an empty server and a new
    # key file, with no word.
    return Path((env.get("TICKETS_DATA_DIR") or "").strip() or "data").resolve()


def config_path(env: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if env is None else env
    if configured := env.get("TICKETS_CONFIG"):
        path = Path(configured)
        try:
            found = path.is_file()
        except OSError as err:
            # Path.is_file() swallows only a missing file: a directory the worker may not enter
            # (a root-only mount, the container running as uid 10001) or a name too long was a
            # traceback.
            raise ConfigError(
                f"TICKETS_CONFIG points to {path}, which cannot be read ({err.strerror})"
            ) from None
        if not found:
            raise ConfigError(f"TICKETS_CONFIG points to {path}, which is not a file")
        return path
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


# A provider's name becomes its task queue's (llm-<name>); a model's name goes into every
# ticket's configuration snapshot. Checked here, where a route is read from the configuration,
# not in AgentRoute, which the histories of running tickets are read through.
MAX_MODEL_CHARS = 200


def parse_route(text: str, where: str) -> AgentRoute:
    provider, sep, model = text.strip().partition(":")
    if not sep or not provider or not model:
        raise ConfigError(f"{where}: expected 'provider:model', got {text[:200]!r}")
    provider, model = provider.strip(), model.strip()
    if not PROVIDER_NAME.fullmatch(provider):
        raise ConfigError(
            f"{where}: the provider {provider[:60]!r} must be 1 to 40 lower-case letters, digits, "
            "'-' or '_' (it names the provider's task queue)"
        )
    if len(model) > MAX_MODEL_CHARS or not model.isprintable():
        raise ConfigError(
            f"{where}: the model name must be at most {MAX_MODEL_CHARS} printable characters"
        )
    return AgentRoute(provider=provider, model=model)


def parse_route_chain(value: Any, where: str) -> list[AgentRoute]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: expected a list of 'provider:model' strings")
    if len(items) > MAX_ROUTES:
        raise ConfigError(f"{where}: {len(items):,} routes; a chain holds at most {MAX_ROUTES}")
    return [parse_route(str(item), f"{where}[{i}]") for i, item in enumerate(items)]


# A configuration file is a few kilobytes; one past this is not one (or is /dev/zero).
MAX_CONFIG_FILE_BYTES = 1024 * 1024


def _read(path: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The file's values, and the line that sets each key."""
    try:
        text = read_text_at_most(path, MAX_CONFIG_FILE_BYTES)
        return tomllib.loads(text), key_lines(text)
    except TooLarge:
        raise ConfigError(
            f"{path}: larger than {MAX_CONFIG_FILE_BYTES:,} bytes: not a pipeline configuration"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except RecursionError:  # a 3,000-line traceback otherwise
        raise ConfigError(
            f"{path}: nests arrays or tables too deeply: not a pipeline configuration"
        ) from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the file: {err.strerror}") from None


def default_routes(
    worker: WorkerSettings, env: Mapping[str, str]
) -> dict[AgentRole, list[AgentRoute]]:
    """Routes when the file names none: the provider chosen by TICKETS_PROVIDER, else every
    provider whose key is set (the first primary, the others fallbacks), else offline."""
    forced = (env.get("TICKETS_PROVIDER") or "").strip().lower()
    if forced == OFFLINE:
        chain: list[str] = []
    elif forced:
        if forced not in worker.providers:
            known = ", ".join([OFFLINE, *worker.providers])
            raise ConfigError(f"TICKETS_PROVIDER: unknown provider {forced!r} (known: {known})")
        chain = [forced]
    else:
        chain = [name for name, p in worker.providers.items() if env.get(p.api_key_env)]
    if not chain:
        return {role: [OFFLINE_ROUTE] for role in AgentRole}
    routes = {}
    for role in AgentRole:
        routes[role] = [
            AgentRoute(
                provider=name,
                model=worker.providers[name].large_model
                if role in LARGE_MODEL_ROLES
                else worker.providers[name].small_model,
            )
            for name in chain
        ]
    return routes


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The file (if any), then environment overrides, validated: pipeline policy for the
    workflows, provider settings for the worker."""
    env = os.environ if env is None else env
    path = path if path is not None else config_path(env)
    where = str(path) if path else "configuration"
    raw, lines = _read(path) if path is not None else ({}, {})

    def at(loc: tuple[str, ...]) -> str:
        line = line_of(lines, loc)
        return where if line is None else f"{where}:{line}"

    sources = env_overrides(raw, env, at)

    def origin(loc: tuple[str, ...], message: str = "") -> str:
        for field, variable in sources.items():
            if loc[: len(field)] == field:
                rest = ".".join(loc[len(field) :])
                return f"{variable}{'[' + rest + ']' if rest else ''}"
        if not loc:
            # A rule across fields: the variable that set a field it names, else the file.
            named = [v for f, v in sources.items() if ".".join(f) in message]
            return named[0] if named else where
        return f"{at(loc)}: {'.'.join(loc)}"

    def problems(
        err: ValidationError,
        prefix: tuple[str, ...] = (),
        written: Mapping[str, tuple[str, ...]] | None = None,
    ) -> str:
        """Each error at its file line or variable; ``written``: a model field's place in the
        file where the two differ (the model's trim_body_tokens is [trimming] body_tokens)."""
        said = []
        for e in err.errors():
            message = str(e["msg"]).removeprefix("Value error, ")
            if _not_finite(e.get("input")):
                # nan fails every bound: "less than or equal to 87600" would send them looking.
                message = "must be a finite number"
            loc = prefix + tuple(str(p) for p in e["loc"])
            if written and loc and loc[0] in written:
                loc = written[loc[0]] + loc[1:]
            said.append(f"{origin(loc, message)}: {message}")
        return "; ".join(said)

    trimming = table_at({"trimming": raw.pop("trimming", {})}, ("trimming",), at)
    if unknown := sorted(set(trimming) - {"body_tokens"}):
        # Every other table refuses keys it does not know: a typo kept the default silently.
        raise ConfigError(
            f"{at(('trimming', unknown[0]))}: [trimming] has no setting "
            f"{', '.join(map(repr, unknown))} (known: body_tokens)"
        )
    providers_raw = raw.pop("providers", {})
    prices_raw = table_at({"prices": raw.pop("prices", {})}, ("prices",), at)
    merged = {name: p.model_dump() for name, p in default_providers().items()}
    for name, fields in providers_raw.items():
        if not isinstance(fields, dict):
            raise ConfigError(f"{at(('providers', name))}: [providers.{name}] must be a table")
        merged[name] = {**merged.get(name, {}), **fields}
    try:
        worker = WorkerSettings.model_validate(
            {"providers": merged}
            | ({"trim_body_tokens": trimming["body_tokens"]} if "body_tokens" in trimming else {})
        )
        worker.prices.update(WorkerSettings.model_validate({"prices": prices_raw}).prices)
    except ValidationError as err:
        # The file's [trimming] body_tokens is the model's trim_body_tokens: named as written,
        # at its line (it was named without one).
        said = problems(err, written={"trim_body_tokens": ("trimming", "body_tokens")})
        raise ConfigError(said) from None

    if "routes" in raw:
        # The snapshot's own field: a [routes] table was thrown away without a word (a review,
        # 2026-12-08), every agent left on its default.
        raise ConfigError(
            f"{at(('routes',))}: [routes] is not a setting; agents' routes go in [agents] "
            "(role = ['provider:model', ...])"
        )
    if "agents" in raw and not isinstance(raw["agents"], dict):
        # Also "agents = false" or "[]", which were read as no table, without a word.
        raise ConfigError(
            f"{at(('agents',))}: [agents] must be a table of role = ['provider:model', ...]"
        )
    agents = raw.pop("agents", {})
    routes: dict[str, list[AgentRoute]] = {
        role.value: chain for role, chain in default_routes(worker, env).items()
    }
    for role, chain in agents.items():
        if role not in {r.value for r in AgentRole}:
            known = ", ".join(r.value for r in AgentRole)
            raise ConfigError(
                f"{at(('agents', role))}: agents.{role} is not an agent (known: {known})"
            )
        routes[role] = parse_route_chain(chain, origin(("agents", role)))
    for role, chain in routes.items():
        for route in chain:
            if route.provider != OFFLINE and route.provider not in worker.providers:
                known = ", ".join([OFFLINE, *worker.providers])
                raise ConfigError(
                    f"{origin(('agents', role))}: unknown provider {route.provider!r} "
                    f"(known: {known})"
                )
    raw["routes"] = routes
    try:
        pipeline = PipelineConfig.model_validate(raw, context={LOADING: True})
    except ValidationError as err:
        raise ConfigError(problems(err)) from None
    dumped = worker.model_dump()
    for settings_part in (
        pipeline.model_dump(),
        {"providers": dumped["providers"]},
        {"prices": dumped["prices"]},
    ):
        if (loc := non_finite(settings_part)) is not None:
            # inf passes every bound and is written null into the configuration snapshot
            # every ticket records, which then does not read back: each new ticket's workflow
            # task would fail over and over. A price of inf made each call's cost nan, written
            # null into its usage, which the workflow could not read: the same.
            raise ConfigError(f"{origin(loc)}: must be a finite number")
    for model, price in dumped["prices"].items():
        for field, value in price.items():
            if isinstance(value, float) and value > MAX_PRICE_PER_MILLION:
                # 1.7e308 is finite, but a call's cost overflowed to inf, then nan: the same
                # workflow task failing for ever as a price of inf.
                raise ConfigError(
                    f"{origin(('prices', model, field))}: {value:g} USD per million tokens is "
                    f"more than any model costs; at most {MAX_PRICE_PER_MILLION:,.0f}"
                )
    timeouts = pipeline.agent_timeouts
    if timeouts.heartbeat_seconds >= timeouts.start_to_close_seconds:
        # Checked here, not in the model: a ticket's configuration snapshot is read back with
        # the model, and one recorded before this check must still read.
        raise ConfigError(
            f"{at(('agent_timeouts', 'heartbeat_seconds'))}: agent_timeouts.heartbeat_seconds "
            f"({timeouts.heartbeat_seconds:g}) must be below agent_timeouts."
            f"start_to_close_seconds ({timeouts.start_to_close_seconds:g}): a stalled call is "
            "noticed by its heartbeat only within the attempt's time"
        )
    window = AGENT_MIN_RETRY_WINDOW.total_seconds()
    for field in ("start_to_close_seconds", "queue_wait_seconds"):
        value = getattr(timeouts, field)
        if value > window:
            # An agent call's retries have its ticket's time to its SLA deadline, never less
            # than this: past the deadline, Temporal cut a longer attempt to the window (one
            # attempt, no retry) and a longer queue wait never fired (a review, 2026-12-07).
            raise ConfigError(
                f"{at(('agent_timeouts', field))}: agent_timeouts.{field} ({value:g}) must be at "
                f"most {window:g}: an agent call's retries may have only {window / 60:g} "
                "minutes (a ticket past its SLA deadline), and one attempt or wait longer than "
                "that would leave it no retry"
            )
    if (calendar_problem := business_hours_problem(pipeline)) is not None:
        loc, message = calendar_problem
        raise ConfigError(f"{origin(loc)}: {message}")
    fallback = pipeline.orchestration.fallback_route
    if fallback is not None and fallback.provider not in {OFFLINE, *worker.providers}:
        known = ", ".join([OFFLINE, *worker.providers])
        raise ConfigError(
            f"{origin(('orchestration', 'fallback_route'))}: unknown provider "
            f"{fallback.provider!r} (known: {known})"
        )
    route_names = {f"{r.provider}:{r.model}": r.model for r in pipeline.used_routes()}
    for key in prices_raw:
        # A route's spelling ("openai:gpt-4.1-mini") was accepted and never matched: prices
        # are looked up by model. Only a key that is a route and no route's model (an Ollama
        # tag such as "mistral:7b" is a model's name, whatever the providers are called).
        if key in route_names and key not in route_names.values():
            raise ConfigError(
                f"{at(('prices', key))}: [prices] is keyed by the model's name: write "
                f'"{route_names[key]}", not "{key}"'
            )
    if pipeline.budget.max_cost_usd and (unpriced := unpriced_models(pipeline, worker)):
        # An unpriced model costs $0: the dollar budget would never stop a ticket.
        raise ConfigError(
            f"{origin(('budget', 'max_cost_usd'))} sets a cost budget, but no price is "
            f"configured for {', '.join(unpriced)}: add them to [prices] (USD per million "
            "tokens) or remove the cost budget"
        )
    used = {r.provider for r in pipeline.used_routes()} - {OFFLINE}
    for name in sorted(used):
        provider = worker.providers[name]
        if provider.timeout_seconds >= pipeline.agent_timeouts.start_to_close_seconds:
            said = (
                f"providers.{name}.timeout_seconds ({provider.timeout_seconds:g}) must be "
                "below agent_timeouts.start_to_close_seconds "
                f"({pipeline.agent_timeouts.start_to_close_seconds:g})"
            )
            place = at(("providers", name, "timeout_seconds"))
            if place == where:
                # The provider's is its default: the line that set the attempt's is the one to
                # change (or the variable), not a key the file never wrote.
                attempt = ("agent_timeouts", "start_to_close_seconds")
                place = next((v for f, v in sources.items() if f == attempt), at(attempt))
            raise ConfigError(f"{place}: {said}")
    from_keys = (
        ()
        if (env.get("TICKETS_PROVIDER") or "").strip()
        else tuple(role for role in AgentRole if role.value not in agents)
    )
    # No file is a valid setup (the defaults and the environment), but one in another
    # directory than the process's (a service started elsewhere) was skipped with nothing said.
    source = (
        where
        if path is not None
        else f"the built-in defaults and the environment (no {DEFAULT_CONFIG_PATH} under "
        f"{Path.cwd()}; TICKETS_CONFIG names a file)"
    )
    return Settings(pipeline=pipeline, worker=worker, source=source, routes_from_keys=from_keys)


def _not_finite(value: Any) -> bool:
    """nan or an infinity, as a number or as the text a variable or file gives."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return False
    return isinstance(value, float) and not math.isfinite(value)


# A price above this (USD per million tokens) is a typo: the dearest models cost hundreds.
MAX_PRICE_PER_MILLION: Final = 100_000.0


def non_finite(value: Any, loc: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where in ``value`` (nested mappings and lists) a number is inf or nan, if anywhere."""
    if isinstance(value, float) and not math.isfinite(value):
        return loc
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        if (found := non_finite(inner, (*loc, str(key)))) is not None:
            return found
    return None


def _routed_models(pipeline: PipelineConfig) -> set[str]:
    """The models the agents are routed to (the offline rules cost nothing)."""
    return {r.model for r in pipeline.used_routes() if r.provider != OFFLINE}


def alias_priced_models(pipeline: PipelineConfig, worker: WorkerSettings) -> list[str]:
    """Routed models priced through their alias (a dated snapshot with no entry of its own): the
    worker says so at start, since an older snapshot can cost more than the alias does now."""
    models = _routed_models(pipeline)
    return sorted(m for m in models if m not in worker.prices and worker.price(m) is not None)


def unpriced_models(pipeline: PipelineConfig, worker: WorkerSettings) -> list[str]:
    """Models the agents are routed to that have no price."""
    return sorted(m for m in _routed_models(pipeline) if worker.price(m) is None)


def load_pipeline_config(
    path: Path | None = None, env: Mapping[str, str] | None = None
) -> PipelineConfig:
    return load_settings(path, env).pipeline


SANDBOX_VALUES = {"on": True, "off": False}


def workflow_sandbox(env: Mapping[str, str] | None = None) -> bool:
    """TICKETS_WORKFLOW_SANDBOX: whether the worker runs workflows in the SDK's sandbox."""
    env = os.environ if env is None else env
    raw = (env.get("TICKETS_WORKFLOW_SANDBOX") or "on").strip().lower()
    if raw not in SANDBOX_VALUES:
        raise ConfigError(f"TICKETS_WORKFLOW_SANDBOX must be on or off, got {raw!r}")
    return SANDBOX_VALUES[raw]
