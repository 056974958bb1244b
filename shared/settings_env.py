"""The environment's overrides of the configuration file's values (TICKETS_SLA_HOURS_<PRIORITY>,
TICKETS_AGENT_<ROLE>, OPENAI_BASE_URL, ...; shared/settings.py lists them), each remembered by
the variable that set it, so a bad value is reported against the variable, not the file."""

from collections.abc import Callable, Mapping
from typing import Any

from shared.agents import AgentRole, Category, Priority
from shared.config_errors import ConfigError

# More entries than this in TICKETS_SENSITIVE_CATEGORIES are refused before they are read.
MAX_SENSITIVE_CATEGORIES = 2 * len(Category)

# Where a field is set, for a message: "path:line" when the file sets it (or a key that holds
# it), else the file's or the configuration's name.
Locate = Callable[[tuple[str, ...]], str]


def table_at(raw: dict[str, Any], loc: tuple[str, ...], at: Locate) -> dict[str, Any]:
    value = raw.setdefault(loc[-1], {})
    if not isinstance(value, dict):
        raise ConfigError(
            f"{at(loc)}: [{'.'.join(loc)}] must be a table, got {type(value).__name__}"
        )
    return value


def env_overrides(
    raw: dict[str, Any], env: Mapping[str, str], at: Locate
) -> dict[tuple[str, ...], str]:
    """Apply TICKETS_* variables over the file's values. Returns which variable set which field,
    so an invalid value is reported against the variable rather than the file."""
    sources: dict[tuple[str, ...], str] = {}
    # A variable of a family that names no member of it (TICKETS_AGENT_CLASIFIER): the same
    # typo in the file is refused, so it is here; it was ignored without a word.
    for prefix, members in (
        ("TICKETS_AGENT_", [role.name for role in AgentRole]),
        ("TICKETS_SLA_HOURS_", [priority.name for priority in Priority]),
    ):
        for name in sorted(env):
            if name.startswith(prefix) and name.removeprefix(prefix) not in members:
                known = ", ".join(prefix + m for m in members)
                raise ConfigError(f"{name[:80]}: no such setting (known: {known})")

    def put(table: dict[str, Any], loc: tuple[str, ...], name: str, value: Any) -> None:
        table[loc[-1]] = value
        sources[loc] = name

    for priority in Priority:
        name = f"TICKETS_SLA_HOURS_{priority.name}"
        if value := env.get(name):
            put(table_at(raw, ("sla_hours",), at), ("sla_hours", priority.value), name, value)
    if value := env.get("TICKETS_MAX_REVISION_ROUNDS"):
        put(raw, ("max_revision_rounds",), "TICKETS_MAX_REVISION_ROUNDS", value)
    review = ("review", "TICKETS_REVIEW_")
    if value := env.get("TICKETS_REVIEW_MIN_CONFIDENCE"):
        put(
            table_at(raw, ("review",), at),
            ("review", "min_confidence"),
            f"{review[1]}MIN_CONFIDENCE",
            value,
        )
    if value := env.get("TICKETS_REVIEW_URGENT"):
        # Read as the model reads a boolean (true/false, 1/0, yes/no, on/off), refused by name
        # otherwise: a typo ("ture") turned the review of Urgent tickets off without a word.
        put(
            table_at(raw, ("review",), at),
            ("review", "review_urgent"),
            "TICKETS_REVIEW_URGENT",
            value.strip(),
        )
    if value := env.get("TICKETS_REVIEW_FINAL_DEADLINE_HOURS"):
        name = "TICKETS_REVIEW_FINAL_DEADLINE_HOURS"
        put(table_at(raw, ("review",), at), ("review", "final_deadline_hours"), name, value)
    if (value := env.get("TICKETS_SENSITIVE_CATEGORIES")) is not None:
        name = "TICKETS_SENSITIVE_CATEGORIES"
        # Each once; a list longer than the categories are many is no list of categories (each
        # wrong entry was named in one error, 100,000 of them in one message).
        categories = list(dict.fromkeys(c.strip() for c in value.split(",") if c.strip()))
        if len(categories) > MAX_SENSITIVE_CATEGORIES:
            raise ConfigError(
                f"{name}: {len(categories):,} different entries; there are {len(Category)} "
                f"categories ({', '.join(c.value for c in Category)})"
            )
        put(table_at(raw, ("review",), at), ("review", "sensitive_categories"), name, categories)
    if value := env.get("TICKETS_BUDGET_MAX_TOKENS"):
        put(
            table_at(raw, ("budget",), at),
            ("budget", "max_tokens"),
            "TICKETS_BUDGET_MAX_TOKENS",
            value,
        )
    if value := env.get("TICKETS_BUDGET_MAX_COST_USD"):
        name = "TICKETS_BUDGET_MAX_COST_USD"
        put(table_at(raw, ("budget",), at), ("budget", "max_cost_usd"), name, value)
    for role in AgentRole:
        name = f"TICKETS_AGENT_{role.name}"
        if value := env.get(name):
            put(table_at(raw, ("agents",), at), ("agents", role.value), name, value)
    providers = table_at(raw, ("providers",), at)
    for provider, variable in (("openai", "OPENAI_BASE_URL"), ("anthropic", "ANTHROPIC_BASE_URL")):
        if value := (env.get(variable) or "").strip():
            put(
                table_at(providers, ("providers", provider), at),
                ("providers", provider, "base_url"),
                variable,
                value,
            )
    return sources
