"""SubTaskWorkflow: one specialist's part of an orchestrator's plan, as a child workflow.

The worker agent is called along its routes (each with the agent retry policy). If they all fail,
one last attempt goes to a cheaper model with a simpler instruction; if that fails too, this
workflow fails, and the orchestrator skips the sub-tasks that depend on it.
"""

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from shared import names
    from shared.agents import AgentRole, AgentRoute, Usage
    from shared.orchestration import (
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
        usage_of_failed_call,
    )


@workflow.defn(name=names.SUBTASK_WORKFLOW)
class SubTaskWorkflow:
    @workflow.run
    async def run(self, request: SubTaskInput) -> SubTaskOutcome:
        started = workflow.now()
        spent: list[Usage] = []

        def failed(route: AgentRoute, err: ActivityError, following: AgentRoute | None) -> None:
            if (usage := usage_of_failed_call(err)) is not None:
                spent.append(usage)

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


def _other_model(fallback: AgentRoute, chain: list[AgentRoute]) -> bool:
    last = chain[-1] if chain else None
    return last is None or (fallback.provider, fallback.model) != (last.provider, last.model)
