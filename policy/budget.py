"""Per-ticket spending limits: stop before a call that would go past one."""

import math
from dataclasses import dataclass

from policy.text_budget import usd_text
from shared.pipeline_config import BudgetConfig, SpendingLimit


def limit_problem(
    limit: SpendingLimit,
    *,
    spent_tokens: int,
    spent_cost_usd: float,
    next_tokens: int,
    next_cost_usd: float,
    calls: int = 1,
) -> str | None:
    """Why the next ``calls`` agent calls must not be made, or None. ``next_*`` estimate what
    they spend together (the workflows use the largest call made so far, for each)."""
    # An orchestrator counts the sub-tasks still running with the one it would start.
    what = "the next call" if calls == 1 else f"the next {calls} calls (those running and one more)"
    if limit.max_tokens is not None and spent_tokens + next_tokens > limit.max_tokens:
        need = "needs" if calls == 1 else "need"
        return (
            f"token budget: {spent_tokens:,} spent, {what} {need} about {next_tokens:,}, "
            f"the limit is {limit.max_tokens:,}"
        )
    if limit.max_cost_usd is not None and spent_cost_usd + next_cost_usd > limit.max_cost_usd:
        cost = "costs" if calls == 1 else "cost"
        return (
            f"cost budget: ${usd_text(spent_cost_usd)} spent, {what} {cost} about "
            f"${usd_text(next_cost_usd)}, the limit is ${usd_text(limit.max_cost_usd)}"
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
    the ticket's budget with the run's own calls, and their average call estimates the next
    call until this run has made one."""

    tokens: int
    cost_usd: float
    calls: int = 0

    @property
    def tokens_per_call(self) -> int:
        return -(-self.tokens // self.calls) if self.calls else 0

    @property
    def cost_per_call(self) -> float:
        return self.cost_usd / self.calls if self.calls else 0.0


def earlier_spend(carried: object) -> EarlierSpend | None:
    """From the usage totals a restarted ticket's memo carries (``earlier_runs_usage``:
    shared/run_spend.py); None when there are none, nothing was spent, or they do not read as
    numbers (not finite, negative)."""
    if not isinstance(carried, dict):
        return None
    tokens, cost, calls = (_count(carried.get(k)) for k in ("tokens", "cost_usd", "calls"))
    if not tokens and not cost:
        return None
    return EarlierSpend(tokens=int(tokens), cost_usd=cost, calls=int(calls))


def _count(value: object) -> float:
    """A memo's number, or 0 for anything that is not a finite, non-negative number (an
    integer past a float's range too: a memo set outside the project can hold a 400-digit one,
    and math.isfinite raised OverflowError on it in workflow code, failing every workflow task
    of the ticket)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    try:
        number = float(value)
    except OverflowError:
        return 0
    return number if math.isfinite(number) and number > 0 else 0


@dataclass(frozen=True)
class Spend:
    """Tokens and cost together: spent, held, or what one call is estimated at."""

    tokens: int = 0
    cost_usd: float = 0.0


def subtask_share(
    limit: SpendingLimit, *, spent: Spend, held: Spend, call: Spend, ready: int
) -> tuple[SpendingLimit | None, str | None]:
    """What an orchestrator's sub-task starting now may spend, or why it may not start.

    What the run's budget has left after what it spent and what its running sub-tasks hold is
    free. A sub-task starts when one call (``call``, the largest so far) fits in it, and holds an
    equal part of it with the others ``ready`` to start now (this one included; as many of them
    as one call fits for), until it ends: parallel sub-tasks' fallbacks never spend the same
    tokens twice, and one sub-task alone may spend all that is free."""
    free_tokens = (
        limit.max_tokens - spent.tokens - held.tokens if limit.max_tokens is not None else None
    )
    free_cost = (
        limit.max_cost_usd - spent.cost_usd - held.cost_usd
        if limit.max_cost_usd is not None
        else None
    )
    if free_tokens is not None and call.tokens > free_tokens:
        return None, (
            f"token budget: {spent.tokens:,} spent, a sub-task's first call needs about "
            f"{call.tokens:,}, the limit is {limit.max_tokens:,}"
        )
    if free_cost is not None and call.cost_usd > free_cost:
        return None, (
            f"cost budget: ${usd_text(spent.cost_usd)} spent, a sub-task's first call costs "
            f"about ${usd_text(call.cost_usd)}, the limit is ${usd_text(limit.max_cost_usd or 0.0)}"
        )
    parts = max(ready, 1)
    if free_tokens is not None and call.tokens:
        parts = min(parts, free_tokens // call.tokens)
    if free_cost is not None and call.cost_usd:
        parts = min(parts, math.floor(free_cost / call.cost_usd))
    parts = max(parts, 1)  # one call fits (checked above)
    return (
        SpendingLimit(
            max_tokens=free_tokens // parts if free_tokens is not None else None,
            max_cost_usd=free_cost / parts if free_cost is not None else None,
        ),
        None,
    )
