"""What an orchestrator run spends and may spend: every agent call's usage by role, the run's
budget (the rest of its ticket's), and the shares of it its running sub-tasks hold (patch
``subtask-shares``, workflows/orchestrator.py). Workflow code: data only."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from policy.budget import Spend, limit_problem, subtask_share
    from shared.agents import AgentRole, Usage
    from shared.orchestration import SubTaskShare
    from shared.pipeline_config import SpendingLimit


class RunBudget:
    def __init__(self, limit: SpendingLimit | None) -> None:
        self.limit = limit  # None: no budget (the checks never stop anything)
        self.usage: dict[str, list[Usage]] = {}
        self._held: dict[str, Spend] = {}  # by sub-task id
        # The largest worker call so far without the earlier results it was handed (its
        # context, as estimated from their text): what a sub-task's own prompt and answer come
        # to; and the most a worker call has cost per token.
        self._largest_bare = 0
        self._worker_cost_per_token = 0.0

    def count(self, role: str, usage: Usage, context_tokens: int = 0) -> None:
        """``context_tokens``: the estimated tokens of the earlier results the call was handed
        (a sub-task's dependencies'), part of its input."""
        self.usage.setdefault(role, []).append(usage)
        if role != AgentRole.WORKER:
            return  # a planner's or synthesizer's prompt is no sub-task's
        tokens = usage.input_tokens + usage.output_tokens
        self._largest_bare = max(self._largest_bare, tokens - min(context_tokens, tokens))
        if tokens:
            self._worker_cost_per_token = max(self._worker_cost_per_token, usage.cost_usd / tokens)

    def counted(self, role: str) -> bool:
        """Whether a call of ``role`` has been counted."""
        return bool(self.usage.get(role))

    def _spent(self) -> list[Usage]:
        return [u for calls in self.usage.values() for u in calls]

    def _largest(self) -> Spend:
        spent = self._spent()
        return Spend(
            max((u.input_tokens + u.output_tokens for u in spent), default=0),
            max((u.cost_usd for u in spent), default=0.0),
        )

    def problem(self, calls: int = 1, call: Spend | None = None) -> str | None:
        """Why ``calls`` more agent calls (each estimated as ``call``, or as the largest so far)
        would pass the run's budget, or None. No budget: never a problem (and no history
        changes)."""
        if self.limit is None:
            return None
        spent, largest = self._spent(), call if call is not None else self._largest()
        return limit_problem(
            self.limit,
            spent_tokens=sum(u.input_tokens + u.output_tokens for u in spent),
            spent_cost_usd=sum(u.cost_usd for u in spent),
            next_tokens=largest.tokens * calls,
            next_cost_usd=largest.cost_usd * calls,
            calls=calls,
        )

    def first_call(self, context_tokens: int) -> Spend:
        """A sub-task's first call, estimated: the largest so far, or, handed ``context_tokens``
        of earlier results, the largest worker call so far without its own context plus this
        one's when that is more (a dependent's prompt carries its dependencies' results, which
        the calls so far may not have), its cost at the most a worker call has cost per token
        (never less than the largest call's)."""
        largest = self._largest()
        tokens = max(largest.tokens, self._largest_bare + context_tokens)
        if tokens == largest.tokens:
            return largest
        return Spend(tokens, max(largest.cost_usd, self._worker_cost_per_token * tokens))

    def larger_by(self, tokens: int) -> Spend:
        """The largest call so far with ``tokens`` more in its prompt (a planner asked again is
        handed its previous plan and what is wrong with it), at that call's cost per token."""
        largest = self._largest()
        if not tokens:
            return largest
        per_token = largest.cost_usd / largest.tokens if largest.tokens else 0.0
        return Spend(largest.tokens + tokens, largest.cost_usd + per_token * tokens)

    def share(
        self, ready: int, call: Spend | None = None
    ) -> tuple[SubTaskShare | None, str | None]:
        """The share of the run's budget a sub-task starting now holds (of ``ready`` sub-tasks
        ready to start, itself included), or why it may not start; ``call``: its first call's
        estimate (the largest call so far unless given)."""
        assert self.limit is not None
        spent = self._spent()
        largest = call if call is not None else self._largest()
        limit, problem = subtask_share(
            self.limit,
            spent=Spend(
                sum(u.input_tokens + u.output_tokens for u in spent),
                sum(u.cost_usd for u in spent),
            ),
            held=Spend(
                sum(h.tokens for h in self._held.values()),
                sum(h.cost_usd for h in self._held.values()),
            ),
            call=largest,
            ready=ready,
        )
        if limit is None:
            return None, problem
        share = SubTaskShare(
            limit=limit, call_tokens=largest.tokens, call_cost_usd=largest.cost_usd
        )
        return share, None

    @property
    def holding(self) -> bool:
        """Whether a running sub-task holds a share (one that ends gives it back)."""
        return bool(self._held)

    def hold(self, subtask_id: str, share: SubTaskShare) -> None:
        self._held[subtask_id] = Spend(share.limit.max_tokens or 0, share.limit.max_cost_usd or 0.0)

    def give_back(self, subtask_id: str) -> None:
        self._held.pop(subtask_id, None)
