"""Per-ticket spending limits: stop before a call that would go past one."""

from shared.pipeline_config import BudgetConfig


def budget_problem(
    budget: BudgetConfig,
    *,
    spent_tokens: int,
    spent_cost_usd: float,
    next_tokens: int,
    next_cost_usd: float,
) -> str | None:
    """Why the next agent call must not be made, or None. ``next_*`` estimate that call (the
    workflow uses the largest call the ticket has made so far)."""
    if budget.max_tokens and spent_tokens + next_tokens > budget.max_tokens:
        return (
            f"token budget: {spent_tokens:,} spent, the next call needs about {next_tokens:,}, "
            f"the limit is {budget.max_tokens:,}"
        )
    if budget.max_cost_usd and spent_cost_usd + next_cost_usd > budget.max_cost_usd:
        return (
            f"cost budget: ${spent_cost_usd:.4f} spent, the next call costs about "
            f"${next_cost_usd:.4f}, the limit is ${budget.max_cost_usd:.4f}"
        )
    return None
