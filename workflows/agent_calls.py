"""Calling agents from the ticket workflow: routes, fallbacks, budget, usage.

Each agent call is one activity on its provider's task queue. When a route fails for good (a
non-retryable provider error, or its retries are spent), the next route in the agent's chain is
tried and the fallback is recorded on the ticket. When every route's output stayed invalid, or the
ticket's budget would be passed, the agents stop and a person takes over (``HandOff``) instead of
the ticket failing.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import Priority as TemporalPriority
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from policy.budget import EarlierSpend, budget_problem
    from policy.priority import priority_key
    from policy.review_policy import ReasonCode, ReviewReason
    from policy.sla import sla_deadline, time_left
    from policy.text_budget import usd_text
    from shared import names
    from shared.agents import AgentReply, AgentRole, AgentRoute, Priority, Usage
    from shared.business_hours import BusinessHours
    from shared.pipeline_config import AgentTimeouts, PipelineConfig
    from shared.view import Fallback
    from workflows import metrics, options
    from workflows.agent_failures import (
        describe_failure,
        failure_kind,
        is_invalid_output,
        usage_of_failed_call,
    )
    from workflows.local_activities import run_local
    from workflows.ticket_record import TicketRecord

OutT = TypeVar("OutT", bound=BaseModel)
# Before triage a ticket's priority, so its SLA, is unknown: its calls may wait as long as a
# Medium ticket's SLA allows (the priority a ticket gets when triage cannot say).
UNTRIAGED_PRIORITY = Priority.MEDIUM


class HandOff(Exception):
    """The agents stop and a person takes over the ticket, for ``reason`` (its ``code``: one of
    policy/review_policy.py's reason codes)."""

    def __init__(self, reason: str, *, code: ReasonCode) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.invalid_output = code is ReasonCode.INVALID_OUTPUT

    @property
    def review_reason(self) -> ReviewReason:
        return ReviewReason(self.code, self.reason)


# A ticket's budget is checked again before a fallback route is tried: what the failed route
# spent (an invalid answer, attempts that failed after answering) counts, and a fallback that
# would pass the budget is not called; a person takes the ticket. Asked only when that check
# trips, so other histories are unchanged.
PATCH_BUDGET_BEFORE_FALLBACK = "budget-before-fallback"


def temporal_priority(record: TicketRecord) -> TemporalPriority:
    key = priority_key(record.view.priority)
    return TemporalPriority(priority_key=key) if key else TemporalPriority.default


class AgentCaller:
    def __init__(
        self,
        record: TicketRecord,
        config: PipelineConfig,
        earlier: EarlierSpend | None = None,
        *,
        calendar: BusinessHours | None,
    ) -> None:
        self._record = record
        self._config = config
        # The calendar the ticket's SLA counts in (its tier's: PipelineConfig.calendar_for).
        self._calendar = calendar
        # What the ticket's earlier runs spent (a failed ticket started again): the budget
        # counts it with this run's calls.
        self._earlier = earlier
        # The largest call so far estimates the next one for the budget check (before this run
        # made one, the earlier runs' average call).
        self._largest_tokens = earlier.tokens_per_call if earlier else 0
        self._largest_cost = earlier.cost_per_call if earlier else 0.0
        # Until when the calls may retry once the ticket has a priority (set at triage: the SLA's
        # length from then); None before, or in a workflow that sets none.
        self.retry_until: datetime | None = None
        # Calls this run has begun (past the budget check): none means no activity yet.
        self.calls_begun = 0

    def _count(self, role: AgentRole, usage: Usage) -> None:
        self._record.add_usage(role, usage)
        self._largest_tokens = max(self._largest_tokens, usage.input_tokens + usage.output_tokens)
        self._largest_cost = max(self._largest_cost, usage.cost_usd)

    @property
    def spent_tokens(self) -> int:
        """What the ticket has spent against its budget: this run's calls and its earlier runs'."""
        return self._record.view.total_tokens + (self._earlier.tokens if self._earlier else 0)

    @property
    def spent_cost_usd(self) -> float:
        earlier = self._earlier.cost_usd if self._earlier else 0.0
        return self._record.view.total_cost_usd + earlier

    def _budget_problem(self) -> str | None:
        problem = budget_problem(
            self._config.budget,
            spent_tokens=self.spent_tokens,
            spent_cost_usd=self.spent_cost_usd,
            next_tokens=self._largest_tokens,
            next_cost_usd=self._largest_cost,
        )
        if problem and self._earlier:
            share = (
                f"{self._earlier.tokens:,} tokens"
                if problem.startswith("token")
                else f"${usd_text(self._earlier.cost_usd)}"
            )
            problem += f" (of which {share} came from this ticket's earlier runs)"
        return problem

    def check_budget(self) -> None:
        """Raises HandOff when the next call would pass the ticket's budget."""
        if problem := self._budget_problem():
            metrics.budget_handoff()
            raise HandOff(f"the ticket's {problem}", code=ReasonCode.BUDGET)

    def retry_deadline(self) -> datetime:
        """Until when this ticket's agent calls may keep retrying: its SLA deadline (also for the
        calls of a run made on its behalf, an orchestrated draft)."""
        return (
            self.retry_until
            or self._record.view.sla_deadline
            or sla_deadline(
                UNTRIAGED_PRIORITY,
                workflow.info().start_time,
                self._config.sla_hours,
                self._calendar,
            )
        )

    def retry_window(self) -> timedelta:
        """How long this ticket's next agent call may keep retrying (rate limits above all): until
        its SLA deadline, and never less than options.AGENT_MIN_RETRY_WINDOW."""
        return window_until(self.retry_deadline())

    async def call(
        self,
        role: AgentRole,
        activity: str,
        request: BaseModel,
        output_type: type[OutT],
        *,
        check_budget: bool = True,
    ) -> AgentReply[OutT]:
        if check_budget:
            self.check_budget()
        self.calls_begun += 1

        def before_fallback() -> None:
            # What the failed route spent counts before the next one is tried (patch: a
            # fallback called after the budget was spent is a call a new history no longer
            # makes, so asked only when the check trips).
            if (
                check_budget
                and self._budget_problem()
                and workflow.patched(PATCH_BUDGET_BEFORE_FALLBACK)
            ):
                fallbacks = self._record.view.fallbacks
                if fallbacks:  # the route recorded as next is not tried: data only
                    fallbacks[-1] = fallbacks[-1].model_copy(update={"next": None})
                self.check_budget()

        def failed(route: AgentRoute, err: ActivityError, following: AgentRoute | None) -> None:
            if (spent := usage_of_failed_call(err)) is not None:
                self._count(role, spent)
            self._record.view.fallbacks.append(
                Fallback(
                    role=role,
                    failed=f"{route.provider}:{route.model}",
                    error=describe_failure(err),
                    next=f"{following.provider}:{following.model}" if following else None,
                    at=workflow.now(),
                )
            )

        try:
            reply = await call_agent(
                role,
                activity,
                request,
                output_type,
                chain=self._config.routes[role],
                timeouts=self._config.agent_timeouts,
                priority=temporal_priority(self._record),
                on_failure=failed,
                retry_window=self.retry_window,
                before_fallback=before_fallback,
            )
        except ActivityError as err:
            if is_invalid_output(err):
                message = err.cause.message if isinstance(err.cause, ApplicationError) else ""
                raise HandOff(
                    f"the {role} agent's output stayed invalid: {message}",
                    code=ReasonCode.INVALID_OUTPUT,
                ) from err
            raise
        self._count(role, reply.usage)
        return reply

    def count(self, role: AgentRole, usage: Usage) -> None:
        """Usage of calls made elsewhere on the ticket's behalf (an orchestrator run)."""
        self._count(role, usage)


async def config_snapshot(
    own_failures_as_activity_errors: bool = False, own_failures_known: bool = False
) -> PipelineConfig:
    """The worker's pipeline configuration, recorded in the history (a local activity): the run
    keeps using it even if the worker restarts with another. (``own_failures_as_activity_errors``:
    workflows/local_activities.py.)"""
    return await run_local(
        names.LOAD_PIPELINE_CONFIG,
        result_type=PipelineConfig,
        start_to_close_timeout=options.CONFIG_START_TO_CLOSE,
        retry_policy=options.CONFIG_RETRY,
        summary="configuration snapshot",
        own_failures_as_activity_errors=own_failures_as_activity_errors,
        own_failures_known=own_failures_known,
    )


def window_until(deadline: datetime) -> timedelta:
    """An agent call's retry window for calls that may retry until ``deadline`` (a ticket's SLA
    deadline), never less than options.AGENT_MIN_RETRY_WINDOW."""
    return max(time_left(deadline, workflow.now()), options.AGENT_MIN_RETRY_WINDOW)


def retry_window_until(
    deadline: datetime | None,
) -> timedelta | Callable[[], timedelta]:
    """``call_agent``'s retry window for a run with (or without) its ticket's deadline: each
    route's window is the time left until it, or the default window for a run made for no
    ticket (a standalone plan, a run started before runs carried the deadline)."""
    if deadline is None:
        return options.AGENT_DEFAULT_RETRY_WINDOW
    return lambda: window_until(deadline)


def _window_from(retry_window: timedelta | Callable[[], timedelta]) -> Callable[[], timedelta]:
    """Each route's retry window, from the time the chain was given and the time now."""
    if callable(retry_window):
        return lambda: max(retry_window(), options.AGENT_MIN_RETRY_WINDOW)
    deadline = workflow.now() + retry_window
    return lambda: max(deadline - workflow.now(), options.AGENT_MIN_RETRY_WINDOW)


async def call_agent(
    role: AgentRole,
    activity: str,
    request: BaseModel,
    output_type: type[OutT],
    *,
    chain: Sequence[AgentRoute],
    timeouts: AgentTimeouts,
    priority: TemporalPriority = TemporalPriority.default,
    on_failure: Callable[[AgentRoute, ActivityError, AgentRoute | None], None] | None = None,
    retry_window: timedelta | Callable[[], timedelta] = options.AGENT_DEFAULT_RETRY_WINDOW,
    before_fallback: Callable[[], Awaitable[None] | None] | None = None,
    more_after_chain: bool = False,
) -> AgentReply[OutT]:
    """One agent call, along its chain of routes: each route is an activity on that provider's
    task queue with the agent retry policy; when one fails for good the next is tried. Raises the
    last route's ActivityError when all failed; a cancellation is never treated as a failure.
    ``retry_window`` bounds the chain's retries in time: a duration from now for the whole chain,
    or a function giving each route's window when it starts (the time left until a ticket's SLA
    deadline). Each route gets its window as its schedule-to-close timeout, and never less than
    options.AGENT_MIN_RETRY_WINDOW: a fallback tried after the first route waited out the
    window gets that much, not the whole window again. ``before_fallback`` runs before each
    route after the first (and may raise: the ticket's budget check; or return an awaitable the
    route waits for first: a swarm's burst of next routes). ``more_after_chain``: the
    caller has somewhere else to go when every route failed (a sub-task's simpler attempt), so
    the last route, too, gives up waiting on its queue and hands an overload on."""
    window = _window_from(retry_window)
    for index, route in enumerate(chain):
        if index and before_fallback is not None:
            waiting = before_fallback()
            if waiting is not None:
                await waiting
        # Only a call with somewhere else to go gives up waiting on its queue.
        has_fallback = index + 1 < len(chain) or more_after_chain
        try:
            # A call with a route after it tells the activity so (data of its input, not a
            # command): an overloaded provider hands such a call on instead of waiting it out.
            sent = route.model_copy(update={"hands_on": True}) if has_fallback else route
            reply: AgentReply[OutT] = await workflow.execute_activity(
                activity,
                request.model_copy(update={"route": sent}),
                task_queue=names.llm_task_queue(route.provider),
                result_type=AgentReply[output_type],  # type: ignore[valid-type]
                start_to_close_timeout=timedelta(seconds=timeouts.start_to_close_seconds),
                schedule_to_close_timeout=window(),
                heartbeat_timeout=timedelta(seconds=timeouts.heartbeat_seconds),
                # An attribute of the same command, not a new command: histories recorded
                # without it replay (tests/replay), so no patch marker is needed.
                schedule_to_start_timeout=(
                    timedelta(seconds=timeouts.queue_wait_seconds) if has_fallback else None
                ),
                retry_policy=options.AGENT_RETRY,
                summary=f"{role} · {route.provider}:{route.model}",
                priority=priority,
            )
            metrics.record_usage(role, reply.usage)
            return reply
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise  # being cancelled: not a provider failure, no fallback
            if (spent := usage_of_failed_call(err)) is not None:
                metrics.record_usage(role, spent)
            following = chain[index + 1] if index + 1 < len(chain) else None
            if on_failure is not None:
                on_failure(route, err, following)
            if following is None:
                raise
            workflow.logger.warning("%s: %s; falling back", role, failure_kind(err))
    raise AssertionError("unreachable: every route chain has at least one route")
