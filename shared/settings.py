"""Process settings from the environment and the configuration file (never used in workflows).

Environment variables (all optional):
  TICKETS_DATA_DIR        where the embedded server's database and the outbox live (./data)
  TICKETS_CONFIG          the pipeline configuration file (./config/pipeline.toml when present)
  TICKETS_SLA_HOURS_<PRIORITY>, TICKETS_MAX_REVISION_ROUNDS, TICKETS_REVIEW_MIN_CONFIDENCE,
  TICKETS_REVIEW_URGENT, TICKETS_SENSITIVE_CATEGORIES, TICKETS_AGENT_<ROLE>
                          override single values of the configuration file
Temporal connection variables are read by ``shared.temporal_client``.
"""

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.agents import AgentRole, AgentRoute, Priority
from shared.pipeline_config import PipelineConfig

DEFAULT_CONFIG_PATH = Path("config/pipeline.toml")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the field."""


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("TICKETS_DATA_DIR") or "data").resolve()


def config_path(env: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if env is None else env
    if configured := env.get("TICKETS_CONFIG"):
        path = Path(configured)
        if not path.is_file():
            raise ConfigError(f"TICKETS_CONFIG points to {path}, which is not a file")
        return path
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def parse_route(text: str, where: str) -> AgentRoute:
    provider, sep, model = text.strip().partition(":")
    if not sep or not provider or not model:
        raise ConfigError(f"{where}: expected 'provider:model', got {text!r}")
    return AgentRoute(provider=provider.strip(), model=model.strip())


def parse_route_chain(value: Any, where: str) -> list[AgentRoute]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: expected a list of 'provider:model' strings")
    return [parse_route(str(item), f"{where}[{i}]") for i, item in enumerate(items)]


def _table(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.setdefault(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table, got {type(value).__name__}")
    return value


def _env_overrides(
    raw: dict[str, Any], env: Mapping[str, str], where: str
) -> dict[tuple[str, ...], str]:
    """Apply TICKETS_* variables over the file's values. Returns which variable set which field,
    so an invalid value is reported against the variable rather than the file."""
    sources: dict[tuple[str, ...], str] = {}

    def put(table: dict[str, Any], loc: tuple[str, ...], name: str, value: Any) -> None:
        table[loc[-1]] = value
        sources[loc] = name

    for priority in Priority:
        name = f"TICKETS_SLA_HOURS_{priority.name}"
        if value := env.get(name):
            put(_table(raw, "sla_hours", where), ("sla_hours", priority.value), name, value)
    if value := env.get("TICKETS_MAX_REVISION_ROUNDS"):
        put(raw, ("max_revision_rounds",), "TICKETS_MAX_REVISION_ROUNDS", value)
    if value := env.get("TICKETS_REVIEW_MIN_CONFIDENCE"):
        put(
            _table(raw, "review", where),
            ("review", "min_confidence"),
            "TICKETS_REVIEW_MIN_CONFIDENCE",
            value,
        )
    if value := env.get("TICKETS_REVIEW_URGENT"):
        flag = value.strip().lower() in {"1", "true", "yes", "on"}
        put(
            _table(raw, "review", where), ("review", "review_urgent"), "TICKETS_REVIEW_URGENT", flag
        )
    if (value := env.get("TICKETS_SENSITIVE_CATEGORIES")) is not None:
        categories = [c.strip() for c in value.split(",") if c.strip()]
        put(
            _table(raw, "review", where),
            ("review", "sensitive_categories"),
            "TICKETS_SENSITIVE_CATEGORIES",
            categories,
        )
    for role in AgentRole:
        name = f"TICKETS_AGENT_{role.name}"
        if value := env.get(name):
            put(_table(raw, "agents", where), ("agents", role.value), name, value)
    return sources


def load_pipeline_config(
    path: Path | None = None, env: Mapping[str, str] | None = None
) -> PipelineConfig:
    """The file (if any), then environment overrides, validated into one ``PipelineConfig``."""
    env = os.environ if env is None else env
    path = path if path is not None else config_path(env)
    where = str(path) if path else "configuration"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from None
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not valid UTF-8 (byte {err.start})") from None
        except OSError as err:
            raise ConfigError(f"{path}: cannot read the file: {err.strerror}") from None
    sources = _env_overrides(raw, env, where)

    def origin(loc: tuple[str, ...]) -> str:
        for field, variable in sources.items():
            if loc[: len(field)] == field:
                rest = ".".join(loc[len(field) :])
                return f"{variable}{'[' + rest + ']' if rest else ''}"
        return f"{where}: {'.'.join(loc)}"

    agents = raw.pop("agents", {}) or {}
    if not isinstance(agents, dict):
        raise ConfigError(f"{where}: [agents] must be a table of role = ['provider:model', ...]")
    routes: dict[str, list[AgentRoute]] = {}
    for role, chain in agents.items():
        if role not in {r.value for r in AgentRole}:
            known = ", ".join(r.value for r in AgentRole)
            raise ConfigError(f"{where}: agents.{role} is not an agent (known: {known})")
        routes[role] = parse_route_chain(chain, origin(("agents", role)))
    raw["routes"] = routes
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{origin(tuple(str(p) for p in e['loc']))}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(problems) from None
