"""OrchestratorWorkflow: a planner decomposes a task into a DAG, specialists work it as child
workflows, a synthesizer combines what they produced.

Each sub-task starts the moment its own dependencies are done: a slow branch never holds up an
independent one. A plan is checked by a pure validator; an invalid plan goes back to the planner
once with the errors, and a second invalid plan fails the run with them listed.

Every failure of the run is an ApplicationError whose details carry an ``OrchestratorFailure``
with the usage of every agent call made, so the ticket that started the run bills it. A run
given a budget (the rest of its ticket's) stops before the agent call that would pass it: no new
sub-task starts, the running ones finish (their spending counts), and the run fails with
``OrchestratorBudgetSpent``.
"""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from policy.budget import Spend
    from policy.plan import dependents, plan_errors, ready
    from policy.text_budget import estimate_tokens, fit_to_tokens
    from shared import names
    from shared.agents import AgentReply, AgentRole, AgentRoute, Usage
    from shared.orchestration import (
        INVALID_PLAN,
        NO_SUBTASK_COMPLETED,
        ORCHESTRATOR_AGENT_FAILED,
        ORCHESTRATOR_BUDGET_SPENT,
        ContextItem,
        OrchestrationSpent,
        OrchestratorFailure,
        OrchestratorInput,
        OrchestratorProgress,
        OrchestratorResult,
        Plan,
        PlanRequest,
        SubTask,
        SubTaskInput,
        SubTaskOutcome,
        SubTaskShare,
        SubTaskStatus,
        Synthesis,
        SynthesisRequest,
        WorkerType,
    )
    from shared.pipeline_config import OrchestrationConfig, PipelineConfig
    from workflows.agent_calls import (
        call_agent,
        config_snapshot,
        describe_failure,
        retry_window_until,
        usage_of_failed_call,
    )
    from workflows.orchestrator_budget import RunBudget
    from workflows.started_input import (
        ABSENT,
        extra_arguments,
        extra_problem,
        read_model,
        refusal,
        signal_problem,
    )

WORKER_TYPES = [w.value for w in WorkerType]
# Patch: a sub-task cancelled on its own fails that sub-task (its dependents are skipped), where
# it used to fail the whole run and lose the usage of everything done.
CHILD_CANCEL_FAILS_SUBTASK = "child-cancel-fails-subtask"
# Sub-task workflow ids are the sub-task's place in the plan and its worker type
# (``<run id>/3-researcher``), not the id the model wrote: a workflow id is stored and indexed
# unencrypted, and the planner has read the customer's text (an id like
# ``refund-ana-lima-order-88123`` would put a name and an order in visibility). Asked once per
# run, before its first sub-task starts.
POSITIONAL_SUBTASK_IDS = "positional-subtask-ids"
# A run with a budget holds a share of it for each sub-task it starts (what is neither spent nor
# held, in equal parts among the sub-tasks ready to start then), and a sub-task makes no call
# after its first that would pass its share: parallel sub-tasks' fallbacks could pass the run's
# budget before, each started against one call. A sub-task starts while one call (the largest so
# far) fits in what is free. Asked once per run with a budget, before its first sub-task starts.
SUBTASK_SHARES = "subtask-shares"
# A run cancelled on its own (an operator) tells its ticket what it spent before it ends
# cancelled: a cancellation carries no details, and the ticket billed none of the run's calls.
# Asked only on that path, by a run with a parent and something spent.
CANCEL_REPORTS_SPEND = "cancel-reports-spend"
# The planner's and the synthesizer's next route is not called once the run's budget is spent
# (what the failed route spent counted first), as a ticket's and a sub-task's are not: a
# synthesizer's first model answering invalid twice, its backup was called unchecked and the run
# passed its budget. Asked only when the check trips (the call a new history no longer makes).
FALLBACK_WITHIN_BUDGET = "orchestrator-fallback-within-budget"
# A sub-task cancelled on its own is billed what it told the run it spent (its signal, sent since
# subtask-cancel-reports-spend) before it ended: its failed calls were lost with the
# cancellation. Asked only when such a sub-task ends having reported something.
CANCELLED_SUBTASK_BILLED = "cancelled-subtask-billed"
# A run with a budget starts no second sub-task before a worker call has been counted: the
# shares were sized by the largest call so far, the planner's, and a worker's (the task, its
# instruction, earlier results, a longer answer) is often larger, while each sub-task's first
# call is not checked against its share: a wave of them passed the run's budget (10,000 tokens
# left after a 1,500-token plan, five sub-tasks of 3,000: 16,500 spent). The first sub-task's
# calls size the rest. Asked only when a second sub-task could start before any worker call.
WORKER_CALL_MEASURED_FIRST = "worker-call-measured-first"
# A budgeted run sizes a dependent sub-task's share by its own first call: the largest call so
# far without its context, plus the results it is handed. Sized by the largest call so far, a
# dependent's first call (its dependencies' results, up to context_tokens each, in its prompt)
# could pass the whole share, and the run's budget with it. Asked only when a sub-task handed
# earlier results would start under a budget.
DEPENDENT_CALL_SIZED = "dependent-call-sized"
# A budgeted run sizes the call before the synthesis and the planner's second try by what they
# are handed: the sub-tasks' results (trimmed as the synthesizer gets them), or the previous
# plan and what is wrong with it. Sized by the largest call so far, a synthesis handed four
# results of 750 tokens passed the run's budget by a third (10,000 tokens, 13,100 spent: a
# review, 2026-12-07). Asked only when that estimate would stop the run and the largest call
# so far would not.
HANDED_TEXT_SIZED = "handed-text-sized"
# A budgeted run runs its sub-tasks one at a time until one has completed, and the one that
# runs alone holds what is left of the budget. Under worker-call-measured-first a sub-task that
# failed after a short call (an invalid answer, one cut off by its time) counted as the worker
# call that sizes the rest: the wave started at once, sized by that call, and passed the budget
# (100 tokens, a plan of 20, a failed call of 10, three workers of 60: 210 spent); and the first
# sub-task, alone by that rule, held a share as if the others ran beside it, so its fallback
# or simpler attempt was refused with most of the budget unused (a review, 2026-12-07). Asked
# when a budgeted run's sub-task would start with nothing running, none completed and others
# ready (so every budgeted plan of several records it, even where the share then comes to
# nothing either way), or a second could start while one runs after a worker call was counted
# and none has completed; never in a run without a budget.
LONE_SUBTASK_UNTIL_COMPLETED = "lone-subtask-until-completed"
# A sub-task's failed calls: one per route of its chain (ten at most) and its simpler attempt.
MAX_SUBTASK_REPORTED_CALLS = 20
# A run cancelled while sub-tasks run cancels them and waits for them to end (at most
# SUBTASK_CANCEL_WAIT): each tells the run what its failed calls spent (its signal) and the run
# sends that on to its ticket with its own spend. They were terminated with the run (the
# parent-close policy): their spend went unbilled and their calls in flight were never told to
# stop. Asked only when a sub-task runs at the cancel.
CANCEL_ENDS_SUBTASKS = "cancel-ends-subtasks"
# A ticket's run works by the ticket's configuration snapshot, carried in its input
# (OrchestratorInput.config), instead of a snapshot of its own (one local activity fewer): a run
# that started on a worker restarted with other settings ran the ticket's plan by those (a
# review, 2026-12-08). Asked only when the input carries one, so a run replayed from a worker
# that ignored the field (an earlier version, during a rolling deploy) takes its own again.
TICKET_CONFIG_KEPT = "ticket-config-kept"
# Long enough for a sub-task on a live worker (its cancel ends it in one workflow task); a
# sub-task that takes longer is terminated with the run, as before the patch.
SUBTASK_CANCEL_WAIT = timedelta(seconds=30)


@workflow.defn(name=names.ORCHESTRATOR_WORKFLOW)
class OrchestratorWorkflow:
    @workflow.init
    @extra_arguments
    def __init__(self, request: Any = None, *extra: Any) -> None:
        # Read here, not by the data converter: an input it refused (from a program other than
        # the CLI and the ticket) failed the run's first workflow task on every attempt; now the
        # run fails, naming the fields (workflows/started_input.py).
        read, problem = read_model(OrchestratorInput, request, "request")
        more = extra_problem(extra, "one: the request")
        self._refused_input = refusal("orchestrator", [problem, more])
        self._request = request = read or OrchestratorInput(task="(not valid)")
        self._phase = "planning"
        self._plan: Plan | None = None
        self._outcomes: dict[str, SubTaskOutcome] = {}
        # What was wrong with a plan the run refused: every failure after it says so.
        self._plan_errors: list[str] = []
        self._running: dict[str, ChildWorkflowHandle[Any, SubTaskOutcome]] = {}
        self._spend = RunBudget(request.budget)
        # Until when the run's calls retry: its ticket's SLA deadline (None: the default window).
        self._retry_until = request.retry_until
        # Why the run stopped starting agent calls (its budget), once it has.
        self._budget_spent: str | None = None
        # What a running sub-task cancelled on its own reported spending, by its workflow id.
        self._reported: dict[str, list[Usage]] = {}
        # The workflow ids of the sub-tasks this run is starting or running: a report names one.
        self._live_ids: set[str] = set()
        # The estimated tokens of the earlier results each started sub-task was handed.
        self._context_tokens: dict[str, int] = {}

    @workflow.run
    @extra_arguments
    async def run(self, request: Any = None, *extra: Any) -> OrchestratorResult:
        if self._refused_input is not None:
            raise self._refused_input
        request = self._request
        if request.config is not None and workflow.patched(TICKET_CONFIG_KEPT):
            config = request.config
        else:
            config = await config_snapshot()
        try:
            return await self._orchestrate(request, config)
        except ActivityError as err:
            if is_cancelled_exception(err):
                await self._report_spend()
                raise
            # A planner or synthesizer whose every route failed: the run fails, with what it
            # spent until then (the failed calls included) for its ticket to bill.
            # With the sub-tasks' outcomes and a refused plan's errors, as every other failure
            # of the run (docs/fanout.md): a synthesizer's failure dropped what its sub-tasks did.
            raise self._failure(
                f"the run stopped: {describe_failure(err)}",
                ORCHESTRATOR_AGENT_FAILED,
                outcomes=list(self._outcomes.values()),
            ) from err
        except BaseException as err:
            # The run cancelled (at any await: a call, a sub-task's end, the wait for them).
            if is_cancelled_exception(err):
                try:
                    await self._end_subtasks()
                finally:  # whatever the wait met, the ticket is told what was counted
                    await self._report_spend()
            raise

    async def _end_subtasks(self) -> None:
        """Cancelled with sub-tasks running: cancel them and count how each ended, its spend
        reported by its signal (a cancelled one) or carried by its result or failure. A sub-task
        whose start the cancel interrupted is not here: the SDK cancelled it, before any call."""
        running = list(self._running.items())
        if not running or not workflow.patched(CANCEL_ENDS_SUBTASKS):
            return
        for _, child in running:
            if not child.done():
                child.cancel()
        await workflow.wait(
            [child for _, child in running], timeout=SUBTASK_CANCEL_WAIT.total_seconds()
        )
        for sub_id, child in running:
            if not child.done():
                continue  # terminated with the run; what it reported by now is still sent on
            del self._running[sub_id]
            self._spend.give_back(sub_id)
            self._live_ids.discard(child.id)
            try:
                outcome = child.result()
            except asyncio.CancelledError:
                # Its result came in the task of the cancel, which the SDK's handle may answer
                # so when it processes an activation's jobs as one batch: counted as cancelled.
                continue
            except ChildWorkflowError as err:
                if is_cancelled_exception(err):
                    continue  # its report, if it sent one, is in self._reported
                self._reported.pop(child.id, None)
                for usage in _failure_spend(err):
                    self._spend.count(AgentRole.WORKER, usage)
                continue
            self._reported.pop(child.id, None)
            for usage in outcome.usage:
                self._spend.count(AgentRole.WORKER, usage)

    async def _report_spend(self) -> None:
        """Cancelled: tell the ticket that started this run what it spent (CANCEL_REPORTS_SPEND),
        then end cancelled. A ticket already gone cannot be told; the cancellation stands."""
        parent = workflow.info().parent
        usage = self._spend.usage
        if parent is None or not any(usage.values()):
            return
        if not workflow.patched(CANCEL_REPORTS_SPEND):
            return
        # What sub-tasks cancelled with the run reported and no end of theirs has counted yet.
        unbilled = [u for calls in self._reported.values() for u in calls]
        if unbilled and workflow.patched(CANCELLED_SUBTASK_BILLED):
            worker = AgentRole.WORKER.value
            usage = {**usage, worker: [*usage.get(worker, []), *unbilled]}
        ticket = workflow.get_external_workflow_handle(parent.workflow_id, run_id=parent.run_id)
        spent = OrchestrationSpent(run=workflow.info().workflow_id, usage=usage)
        try:
            await ticket.signal(names.ORCHESTRATION_SPENT_SIGNAL, spent)
        except Exception as err:  # the run ends cancelled either way
            workflow.logger.warning("the run's spend could not reach its ticket: %s", err)

    @workflow.signal(name=names.SUBTASK_SPENT_SIGNAL)
    @extra_arguments
    def subtask_spent(self, payload: Any = ABSENT, *extra: Any) -> None:
        """From a sub-task of this run cancelled on its own: what its failed calls spent, counted
        when it ends (``_finish``), or sent on to the ticket if the run is cancelled first. One
        that does not parse, names no running sub-task of this run (which also keeps what strangers
        send from piling up), or says what no sub-task spends is ignored: anyone who may signal
        the run can send one, and a valid one naming a sub-task is billed if that sub-task ends
        cancelled (the ticket's ``orchestration_spent`` trusts its signal the same way)."""
        if (problem := signal_problem(payload, extra)) is not None:
            workflow.logger.warning("a subtask_spent signal ignored: %s", problem)
            return
        try:
            spent = OrchestrationSpent.model_validate(payload)
            problem = spent.problem()
        except ValueError:
            problem = "it does not parse"
        if problem is None and spent.run not in self._live_ids:
            problem = "it names no running sub-task of this run"
        calls = sum(len(c) for c in spent.usage.values()) if problem is None else 0
        if calls > MAX_SUBTASK_REPORTED_CALLS:
            problem = f"{calls} calls, more than a sub-task makes ({MAX_SUBTASK_REPORTED_CALLS})"
        if problem is not None:
            workflow.logger.warning("a subtask_spent signal ignored: %s", problem)
            return
        # A sub-task's calls are a worker's: any other role's are no sub-task's.
        self._reported[spent.run] = spent.usage.get(AgentRole.WORKER.value, [])

    async def _orchestrate(
        self, request: OrchestratorInput, config: PipelineConfig
    ) -> OrchestratorResult:
        plan, attempts = await self._plan_task(request.task, config)
        self._plan = plan
        self._phase = "running"
        await self._run_plan(request.task, plan, config)
        self._phase = "synthesizing"
        if self._budget_spent is not None:
            for sub in plan.subtasks:
                self._outcomes.setdefault(
                    sub.id,
                    SubTaskOutcome(
                        id=sub.id,
                        worker=sub.worker,
                        status=SubTaskStatus.SKIPPED,
                        error=f"not started: the run's {self._budget_spent}",
                    ),
                )
        done = [self._outcomes[t.id] for t in plan.subtasks]
        if self._budget_spent is not None:
            raise self._failure(
                f"the run's {self._budget_spent}", ORCHESTRATOR_BUDGET_SPENT, outcomes=done
            )
        completed = [o for o in done if o.status is SubTaskStatus.COMPLETED]
        if not completed:
            # Nothing to synthesize from: an answer written from no results would only sound
            # right. The run fails with every sub-task's reason (a ticket then drafts alone).
            reasons = [f"{o.id}: {o.error}" for o in done if o.status is SubTaskStatus.FAILED]
            raise self._failure(
                "no sub-task completed: " + "; ".join(reasons), NO_SUBTASK_COMPLETED, outcomes=done
            )
        results = [
            self._context(o, synthesis_share(config.orchestration, len(completed)))
            for o in completed
        ]
        handed = sum(estimate_tokens(r.output) for r in results)
        self._stop_if_over_budget(outcomes=done, handed=self._spend.first_call(handed))
        synthesis = await self._agent(
            AgentRole.SYNTHESIZER,
            names.SYNTHESIZE_RESULTS,
            SynthesisRequest(
                task=request.task,
                results=results,
                missing=[o.id for o in done if o.status is not SubTaskStatus.COMPLETED],
            ),
            Synthesis,
            config,
            outcomes=done,
        )
        self._phase = "done"
        return OrchestratorResult(
            task=request.task,
            plan=plan,
            plan_attempts=attempts,
            outcomes=done,
            synthesis=synthesis.output,
            usage=self._spend.usage,
        )

    # ---- what the run spends ---------------------------------------------------------------------

    def _stop_if_over_budget(
        self, outcomes: list[SubTaskOutcome] | None = None, handed: Spend | None = None
    ) -> None:
        """Fail the run when the next call would pass its budget: estimated as the largest call
        so far, and (HANDED_TEXT_SIZED) as ``handed``, the next call sized by the text it is
        handed, when that is larger."""
        problem = self._spend.problem()
        if problem is None and handed is not None:
            sized = self._spend.problem(call=handed)
            if sized is not None and workflow.patched(HANDED_TEXT_SIZED):
                problem = sized
        if problem:
            self._budget_spent = problem
            raise self._failure(
                f"the run's {problem}", ORCHESTRATOR_BUDGET_SPENT, outcomes=outcomes or []
            )

    def _failure(
        self,
        message: str,
        kind: str,
        *,
        errors: list[str] | None = None,
        outcomes: list[SubTaskOutcome] | None = None,
    ) -> ApplicationError:
        details = OrchestratorFailure(
            usage=self._spend.usage, errors=errors or self._plan_errors, outcomes=outcomes or []
        )
        return ApplicationError(
            message, details.model_dump(mode="json"), type=kind, non_retryable=True
        )

    # ---- the agents ------------------------------------------------------------------------------

    async def _agent(self, role, activity, request, output_type, config, outcomes=None):  # type: ignore[no-untyped-def]
        def failed(route: AgentRoute, err: ActivityError, following: AgentRoute | None) -> None:
            if (spent := usage_of_failed_call(err)) is not None:
                self._spend.count(role, spent)

        def within_budget() -> None:
            if self._spend.problem() and workflow.patched(FALLBACK_WITHIN_BUDGET):
                self._stop_if_over_budget(outcomes=outcomes)

        reply: AgentReply = await call_agent(
            role,
            activity,
            request,
            output_type,
            chain=config.routes[role],
            timeouts=config.agent_timeouts,
            on_failure=failed,
            retry_window=retry_window_until(self._retry_until),
            before_fallback=within_budget,
        )
        self._spend.count(role, reply.usage)
        return reply

    async def _plan_task(self, task: str, config: PipelineConfig) -> tuple[Plan, int]:
        max_nodes = config.orchestration.max_nodes
        request = PlanRequest(task=task, worker_types=WORKER_TYPES, max_nodes=max_nodes)
        reply = await self._agent(AgentRole.PLANNER, names.PLAN_TASK, request, Plan, config)
        plan: Plan = reply.output
        if not (errors := plan_errors(plan, WORKER_TYPES, max_nodes)):
            return plan, 1
        # How many problems, not what they say: they quote the ids and words the model wrote.
        workflow.logger.warning("plan refused (%d problem(s)), asking again", len(errors))
        self._plan_errors = errors
        handed = estimate_tokens(plan.model_dump_json()) + sum(estimate_tokens(e) for e in errors)
        self._stop_if_over_budget(handed=self._spend.larger_by(handed))
        retry = request.model_copy(update={"errors": errors, "previous_plan": plan})
        reply = await self._agent(AgentRole.PLANNER, names.PLAN_TASK, retry, Plan, config)
        plan = reply.output
        if errors := plan_errors(plan, WORKER_TYPES, max_nodes):
            raise self._failure(
                "the planner's plan was invalid twice: " + "; ".join(errors),
                INVALID_PLAN,
                errors=errors,
            )
        return plan, 2

    def _context(self, outcome: SubTaskOutcome, tokens: int) -> ContextItem:
        return ContextItem(
            subtask_id=outcome.id,
            worker=outcome.worker,
            output=fit_to_tokens(outcome.output or "", tokens),
            sources=outcome.sources,
        )

    async def _run_plan(self, task: str, plan: Plan, config: PipelineConfig) -> None:
        info = workflow.info()
        routes = config.routes[AgentRole.WORKER]
        fallback = config.orchestration.fallback_route or routes[-1]
        started: set[str] = set()
        positional = workflow.patched(POSITIONAL_SUBTASK_IDS)
        shares = self._spend.limit is not None and workflow.patched(SUBTASK_SHARES)
        place = {t.id: n for n, t in enumerate(plan.subtasks, start=1)}
        while True:
            completed = {
                i for i, o in self._outcomes.items() if o.status is SubTaskStatus.COMPLETED
            }
            startable = ready(plan, completed, started)
            for place_in_line, sub in enumerate(startable):
                share: SubTaskShare | None = None
                context = [
                    self._context(self._outcomes[d], config.orchestration.context_tokens)
                    # Once each: a plan may name a dependency twice (its output, paid for
                    # again in every attempt's prompt).
                    for d in dict.fromkeys(sub.depends_on)
                ]
                context_tokens = sum(estimate_tokens(c.output) for c in context)
                if self._budget_spent is None and shares:
                    if (
                        self._spend.holding
                        and not self._spend.counted(AgentRole.WORKER)
                        and workflow.patched(WORKER_CALL_MEASURED_FIRST)
                    ):
                        break  # the running sub-task's calls size the next one's share
                    if (
                        self._spend.holding
                        and not completed
                        and workflow.patched(LONE_SUBTASK_UNTIL_COMPLETED)
                    ):
                        break  # a failed one's calls (cut short, refused) size no wave
                    ready_now = len(startable) - place_in_line
                    if (
                        ready_now > 1
                        and not self._spend.holding
                        and not completed
                        and workflow.patched(LONE_SUBTASK_UNTIL_COMPLETED)
                    ):
                        ready_now = 1  # it runs alone: what is left of the budget is its
                    call = (
                        self._spend.first_call(context_tokens)
                        if context_tokens and workflow.patched(DEPENDENT_CALL_SIZED)
                        else None
                    )
                    share, problem = self._spend.share(ready=ready_now, call=call)
                    if share is None and self._spend.holding:
                        break  # it may fit once a running sub-task has ended and given back
                    self._budget_spent = problem
                elif self._budget_spent is None:
                    # A sub-task is at least one agent call; the running ones may each spend
                    # about as much as the largest call so far.
                    self._budget_spent = self._spend.problem(calls=len(self._running) + 1)
                if self._budget_spent is not None:
                    break  # start nothing more; the running ones finish and are counted
                started.add(sub.id)
                child_id = (
                    f"{info.workflow_id}/{place[sub.id]}-{sub.worker}"
                    if positional
                    else f"{info.workflow_id}/{sub.id}"
                )
                # Before the start: its report may reach the run in the task that tells it the
                # child started.
                self._live_ids.add(child_id)
                try:
                    child = await workflow.start_child_workflow(
                        names.SUBTASK_WORKFLOW,
                        SubTaskInput(
                            task=task,
                            subtask=sub,
                            context=context,
                            routes=routes,
                            fallback_route=fallback,
                            timeouts=config.agent_timeouts,
                            share=share,
                            retry_until=self._retry_until,
                        ),
                        id=child_id,
                        result_type=SubTaskOutcome,
                        static_summary=f"{sub.worker}: {sub.instruction}"[:200],
                    )
                except WorkflowAlreadyStartedError:
                    self._live_ids.discard(child_id)
                    # Left over from before a reset of this run: its result is not ours to use.
                    self._fail(plan, sub, "a sub-task with this id is already running", [], started)
                    continue
                self._running[sub.id] = child
                self._context_tokens[sub.id] = context_tokens
                if share is not None:
                    self._spend.hold(sub.id, share)
            if not self._running:
                return
            await workflow.wait(list(self._running.values()), return_when=asyncio.FIRST_COMPLETED)
            for sub_id, child in list(self._running.items()):
                if child.done():
                    del self._running[sub_id]
                    self._spend.give_back(sub_id)
                    self._finish(plan, plan_task(plan, sub_id), child, started)

    def _finish(
        self,
        plan: Plan,
        sub: SubTask,
        child: ChildWorkflowHandle[Any, SubTaskOutcome],
        started: set[str],
    ) -> None:
        self._live_ids.discard(child.id)
        reported = self._reported.pop(child.id, None)
        try:
            outcome = child.result()
        except ChildWorkflowError as err:
            # A sub-task cancelled on its own (an operator) fails that sub-task; only the run's
            # own cancellation (or an older run's rule) ends the run.
            if is_cancelled_exception(err) and (
                workflow.cancellation_reason() is not None
                or not workflow.patched(CHILD_CANCEL_FAILS_SUBTASK)
            ):
                raise
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            spent = _failure_spend(err)
            if (
                is_cancelled_exception(err)
                and reported
                and workflow.patched(CANCELLED_SUBTASK_BILLED)
            ):
                spent = reported
            self._fail(plan, sub, message, spent, started)
            return
        self._outcomes[sub.id] = outcome
        for usage in outcome.usage:
            self._spend.count(AgentRole.WORKER, usage, self._context_tokens.get(sub.id, 0))

    def _fail(
        self, plan: Plan, sub: SubTask, message: str, spent: list[Usage], started: set[str]
    ) -> None:
        """Record a failed sub-task and skip everything that needs it."""
        self._outcomes[sub.id] = SubTaskOutcome(
            id=sub.id,
            worker=sub.worker,
            status=SubTaskStatus.FAILED,
            error=message,
            usage=spent,
            finished_at=workflow.now(),
        )
        for usage in spent:
            self._spend.count(AgentRole.WORKER, usage, self._context_tokens.get(sub.id, 0))
        for blocked in dependents(plan, sub.id):
            started.add(blocked)
            self._outcomes[blocked] = SubTaskOutcome(
                id=blocked,
                worker=plan_task(plan, blocked).worker,
                status=SubTaskStatus.SKIPPED,
                error=f"needs {sub.id}, which failed",
            )

    @workflow.query(name=names.PROGRESS_QUERY)
    def progress(self) -> OrchestratorProgress:
        order = [t.id for t in self._plan.subtasks] if self._plan else []
        return OrchestratorProgress(
            phase=self._phase,
            plan=self._plan,
            # Without the outputs: `plan --wait` asks twice a second, and an answer with them
            # (megabytes) went to the payload store each time, a new copy under a new nonce.
            # They are in the run's result, and each sub-task's own.
            outcomes=[
                self._outcomes[i].model_copy(update={"output": None})
                for i in order
                if i in self._outcomes
            ],
            running=sorted(self._running),
        )


def _failure_spend(err: ChildWorkflowError) -> list[Usage]:
    """What a failed sub-task spent: its failure's details (a cancellation carries none)."""
    cause = err.cause
    details = cause.details if isinstance(cause, ApplicationError) else ()
    return [Usage.model_validate(u) for u in details or ()]


def synthesis_share(config: OrchestrationConfig, results: int) -> int:
    """How many tokens of each of ``results`` completed outputs the synthesizer reads: an equal
    share of ``synthesis_tokens``, never less than a worker's ``context_tokens``."""
    return max(config.context_tokens, config.synthesis_tokens // max(1, results))


def plan_task(plan: Plan, subtask_id: str) -> SubTask:
    return next(t for t in plan.subtasks if t.id == subtask_id)
