"""SubTaskWorkflow: one specialist's part of an orchestrator's plan, as a child workflow.

The worker agent is called along its routes (each with the agent retry policy). If they all fail,
one last attempt goes to a cheaper model with a simpler instruction; if that fails too, this
workflow fails, and the orchestrator skips the sub-tasks that depend on it.
"""

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from policy.budget import limit_problem
    from shared import names
    from shared.agents import AgentRole, AgentRoute, Usage
    from shared.orchestration import (
        SUBTASK_BUDGET_SPENT,
        OrchestrationSpent,
        SubTaskInput,
        SubTaskOutcome,
        SubTaskStatus,
        WorkRequest,
        WorkResult,
    )
    from workflows.agent_calls import (
        call_agent,
        describe_failure,
        failure_kind,
        retry_window_until,
        usage_of_failed_call,
    )


# A sub-task cancelled on its own (an operator) tells its run what its failed calls spent before
# it ends cancelled: a cancellation carries no details, and the run (so its ticket) billed none
# of them. Asked only on that path, with something spent.
SUBTASK_CANCEL_REPORTS_SPEND = "subtask-cancel-reports-spend"


@workflow.defn(name=names.SUBTASK_WORKFLOW)
class SubTaskWorkflow:
    def __init__(self) -> None:
        # What this sub-task's calls spent so far: the failed ones (their errors carried it).
        self._spent: list[Usage] = []

    @workflow.run
    async def run(self, request: SubTaskInput) -> SubTaskOutcome:
        try:
            return await self._work(request)
        except BaseException as err:
            # Cancelled at any await (a call, a retry's wait): the run is told what was spent.
            if is_cancelled_exception(err):
                await self._report_spend()
            raise

    async def _report_spend(self) -> None:
        parent = workflow.info().parent
        if parent is None or not self._spent or not workflow.patched(SUBTASK_CANCEL_REPORTS_SPEND):
            return
        run = workflow.get_external_workflow_handle(parent.workflow_id, run_id=parent.run_id)
        spent = OrchestrationSpent(
            run=workflow.info().workflow_id, usage={AgentRole.WORKER.value: self._spent}
        )
        try:
            await run.signal(names.SUBTASK_SPENT_SIGNAL, spent)
        except Exception as err:  # the sub-task ends cancelled either way
            workflow.logger.warning("the sub-task's spend could not reach its run: %s", err)

    async def _work(self, request: SubTaskInput) -> SubTaskOutcome:
        started = workflow.now()
        spent = self._spent
        failures: list[str] = []

        def failed(route: AgentRoute, err: ActivityError, following: AgentRoute | None) -> None:
            failures.append(describe_failure(err))
            if (usage := usage_of_failed_call(err)) is not None:
                spent.append(usage)

        def within_share() -> None:
            """Before each call after the first: a sub-task holding a share of its run's budget
            stops, with what it spent, before a call that would pass it."""
            if (problem := _share_problem(request, spent)) is not None:
                raise ApplicationError(
                    f"sub-task {request.subtask.id} failed: {failures[-1] if failures else '?'}; "
                    f"no further call: its share of the run's budget: {problem}",
                    *[u.model_dump(mode="json") for u in spent],
                    type=SUBTASK_BUDGET_SPENT,
                    non_retryable=True,
                )

        work = WorkRequest(task=request.task, subtask=request.subtask, context=request.context)
        simplified = False
        try:
            reply = await call_agent(
                AgentRole.WORKER,
                names.RUN_SUBTASK,
                work,
                WorkResult,
                chain=request.routes,
                timeouts=request.timeouts,
                on_failure=failed,
                retry_window=retry_window_until(request.retry_until),
                before_fallback=within_share,
                # The simpler attempt below follows the chain on another model: the chain's last
                # route hands an overload on to it (data of the activity's input and a queue-wait
                # timeout, not commands). On the same model it would meet the same overload.
                more_after_chain=_other_model(request.fallback_route, request.routes),
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            first = describe_failure(err)
            fallback = request.fallback_route
            within_share()
            # Not the sub-task's id (the model wrote it) nor the failure's words: the log keeps
            # no customer text.
            workflow.logger.warning(
                "a sub-task failed (%s); a simpler attempt on %s:%s",
                failure_kind(err),
                fallback.provider,
                fallback.model,
            )
            try:
                reply = await call_agent(
                    AgentRole.WORKER,
                    names.RUN_SUBTASK,
                    work.model_copy(update={"simplified": True}),
                    WorkResult,
                    chain=[fallback],
                    timeouts=request.timeouts,
                    on_failure=failed,
                    retry_window=retry_window_until(request.retry_until),
                )
                simplified = True
            except ActivityError as last:
                if is_cancelled_exception(last):
                    raise
                raise ApplicationError(
                    f"sub-task {request.subtask.id} failed: {first}; the simpler attempt on "
                    f"{fallback.provider}:{fallback.model} failed too: {describe_failure(last)}",
                    *[u.model_dump(mode="json") for u in spent],
                    type="SubTaskFailed",
                    non_retryable=True,
                ) from None
        return SubTaskOutcome(
            id=request.subtask.id,
            worker=request.subtask.worker,
            status=SubTaskStatus.COMPLETED,
            output=reply.output.output,
            sources=reply.output.sources,
            model=reply.usage.model,
            simplified=simplified,
            usage=[*spent, reply.usage],
            started_at=started,
            finished_at=workflow.now(),
        )


def _share_problem(request: SubTaskInput, spent: list[Usage]) -> str | None:
    """Why one more call would pass the sub-task's share (None: it fits, or it has none)."""
    share = request.share
    if share is None:
        return None
    return limit_problem(
        share.limit,
        spent_tokens=sum(u.input_tokens + u.output_tokens for u in spent),
        spent_cost_usd=sum(u.cost_usd for u in spent),
        next_tokens=max([share.call_tokens, *(u.input_tokens + u.output_tokens for u in spent)]),
        next_cost_usd=max([share.call_cost_usd, *(u.cost_usd for u in spent)]),
    )


def _other_model(fallback: AgentRoute, chain: list[AgentRoute]) -> bool:
    last = chain[-1] if chain else None
    return last is None or (fallback.provider, fallback.model) != (last.provider, last.model)
