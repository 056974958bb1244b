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


def _env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for priority in Priority:
        if value := env.get(f"TICKETS_SLA_HOURS_{priority.name}"):
            raw.setdefault("sla_hours", {})[priority.value] = value
    if value := env.get("TICKETS_MAX_REVISION_ROUNDS"):
        raw["max_revision_rounds"] = value
    review = raw.setdefault("review", {})
    if value := env.get("TICKETS_REVIEW_MIN_CONFIDENCE"):
        review["min_confidence"] = value
    if value := env.get("TICKETS_REVIEW_URGENT"):
        review["review_urgent"] = value.strip().lower() in {"1", "true", "yes", "on"}
    if (value := env.get("TICKETS_SENSITIVE_CATEGORIES")) is not None:
        review["sensitive_categories"] = [c.strip() for c in value.split(",") if c.strip()]
    for role in AgentRole:
        if value := env.get(f"TICKETS_AGENT_{role.name}"):
            raw.setdefault("agents", {})[role.value] = value


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
    _env_overrides(raw, env)
    agents = raw.pop("agents", {}) or {}
    if not isinstance(agents, dict):
        raise ConfigError(f"{where}: [agents] must be a table of role = ['provider:model', ...]")
    routes: dict[str, list[AgentRoute]] = {}
    for role, chain in agents.items():
        if role not in {r.value for r in AgentRole}:
            known = ", ".join(r.value for r in AgentRole)
            raise ConfigError(f"{where}: agents.{role} is not an agent (known: {known})")
        routes[role] = parse_route_chain(chain, f"{where}: agents.{role}")
    raw["routes"] = routes
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"{where}: {problems}") from None
