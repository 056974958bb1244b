"""Per-ticket spending limits: stop before a call that would go past one."""

from dataclasses import dataclass

from shared.pipeline_config import BudgetConfig, SpendingLimit


def limit_problem(
    limit: SpendingLimit,
    *,
    spent_tokens: int,
    spent_cost_usd: float,
    next_tokens: int,
    next_cost_usd: float,
) -> str | None:
    """Why the next agent call(s) must not be made, or None. ``next_*`` estimate what they
    spend (the workflows use the largest call made so far)."""
    if limit.max_tokens is not None and spent_tokens + next_tokens > limit.max_tokens:
        return (
            f"token budget: {spent_tokens:,} spent, the next call needs about {next_tokens:,}, "
            f"the limit is {limit.max_tokens:,}"
        )
    if limit.max_cost_usd is not None and spent_cost_usd + next_cost_usd > limit.max_cost_usd:
        return (
            f"cost budget: ${spent_cost_usd:.4f} spent, the next call costs about "
            f"${next_cost_usd:.4f}, the limit is ${limit.max_cost_usd:.4f}"
        )
    return None


def as_limit(budget: BudgetConfig) -> SpendingLimit:
    """The configured budget (where 0 means no limit) as a limit."""
    return SpendingLimit(
        max_tokens=budget.max_tokens or None, max_cost_usd=budget.max_cost_usd or None
    )


def budget_problem(
    budget: BudgetConfig,
    *,
    spent_tokens: int,
    spent_cost_usd: float,
    next_tokens: int,
    next_cost_usd: float,
) -> str | None:
    """Why the ticket's next agent call must not be made, or None."""
    return limit_problem(
        as_limit(budget),
        spent_tokens=spent_tokens,
        spent_cost_usd=spent_cost_usd,
        next_tokens=next_tokens,
        next_cost_usd=next_cost_usd,
    )


def remaining_budget(
    budget: BudgetConfig, *, spent_tokens: int, spent_cost_usd: float
) -> SpendingLimit | None:
    """What is left of a ticket's budget for a run on its behalf; None when it has no budget."""
    if not budget.limited:
        return None
    return SpendingLimit(
        max_tokens=max(budget.max_tokens - spent_tokens, 0) if budget.max_tokens else None,
        max_cost_usd=(
            max(budget.max_cost_usd - spent_cost_usd, 0.0) if budget.max_cost_usd else None
        ),
    )


@dataclass(frozen=True)
class EarlierSpend:
    """What a ticket's earlier runs spent (a failed ticket started again): it counts against
    the ticket's budget with the run's own calls."""

    tokens: int
    cost_usd: float


def earlier_spend(carried: object) -> EarlierSpend | None:
    """From the usage totals a restarted ticket's memo carries (``earlier_runs_usage``:
    shared/run_spend.py); None when there are none, or nothing was spent."""
    if not isinstance(carried, dict):
        return None
    tokens, cost = carried.get("tokens"), carried.get("cost_usd")
    tokens = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else 0
    cost = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else 0.0
    if tokens <= 0 and cost <= 0:
        return None
    return EarlierSpend(tokens=max(tokens, 0), cost_usd=max(cost, 0.0))
