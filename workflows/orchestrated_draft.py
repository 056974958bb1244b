"""A complex ticket's first draft from an orchestrator child run: a planner, specialist workers
and a synthesizer instead of one resolver call. Any failure falls back to the single resolver,
recorded on the ticket as a fallback.

The run gets what is left of the ticket's budget and stops before the call that would pass it;
the ticket then goes to a person (as when its own next call would pass the budget). Whatever the
run spent, completed or failed, is billed to the ticket.
"""

from temporalio import workflow
from temporalio.exceptions import (
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from policy.budget import remaining_budget
    from policy.review_policy import ReasonCode
    from policy.trimming import trim_body
    from shared import names
    from shared.agents import AgentRole, Draft, KnowledgeArticle
    from shared.orchestration import (
        MAX_TASK_CHARS,
        ORCHESTRATOR_BUDGET_SPENT,
        OrchestratorFailure,
        OrchestratorInput,
        OrchestratorResult,
        SubTaskStatus,
    )
    from shared.pipeline_config import PipelineConfig
    from shared.tickets import Ticket
    from shared.view import Fallback
    from workflows import metrics
    from workflows.agent_calls import AgentCaller, HandOff, temporal_priority
    from workflows.ticket_record import TicketRecord

ORCHESTRATOR_AUTHOR = "orchestrator"
# The orchestrator run cancelled on its own (an operator, a stuck run) falls back to the single
# resolver like any other failure of it: it failed the whole ticket before, whose workflow ended
# FAILED with its state CANCELLED. Asked only when the run was cancelled and the ticket was not.
PATCH_CHILD_CANCEL_FALLS_BACK = "orchestrator-cancel-falls-back"
# What the orchestrator run said it had spent as it was cancelled (its orchestration_spent
# signal, sent since cancel-reports-spend) is billed to the ticket. Asked only when such a
# signal came: a ticket worker without the handler left it unbilled, and its replay must too.
PATCH_CANCELLED_RUN_BILLED = "cancelled-orchestration-billed"
MAX_DRAFT_CHARS = 8_000  # the Draft model's limit
# A synthesized answer longer than a draft may be falls back to the single resolver (whose
# Draft is checked, with a repair round), with the reason: it was cut at MAX_DRAFT_CHARS, mid
# sentence, and the cut draft went on to validation and the customer. Asked only then.
PATCH_LONG_ANSWER_FALLS_BACK = "long-synthesis-falls-back"
MAX_ARTICLES_CHARS = 8_000  # of the task: the ticket's articles, as reference for the workers


def resolution_task(ticket: Ticket, record: TicketRecord, articles: list[KnowledgeArticle]) -> str:
    """The task the planner gets. The articles the ticket's own search found travel with it, so
    the workers ground their answer in the same facts the validator will check it against."""
    view = record.view
    known = "\n".join(f"[{a.article_id}] {a.title}: {a.answer}" for a in articles)
    return (
        f"Write the reply to the customer for this support ticket, at most {MAX_DRAFT_CHARS:,} "
        "characters. "
        f"Category: {view.category}; priority: {view.priority}.\n"
        f"Subject: {ticket.subject}\n\n{trim_body(ticket.body).text}\n\n"
        f"Knowledge-base articles found for this ticket (cite them by id):\n"
        f"{known[:MAX_ARTICLES_CHARS] or '(none)'}"
    )[:MAX_TASK_CHARS]


def failed_run(cause: BaseException | None) -> OrchestratorFailure:
    """What a failed orchestrator run's error says it spent and did (empty for a run whose error
    carries none: one that failed before runs reported their usage)."""
    if not isinstance(cause, ApplicationError) or not cause.details:
        return OrchestratorFailure()
    try:
        return OrchestratorFailure.model_validate(cause.details[0])
    except ValueError:
        return OrchestratorFailure()


def findings_kept(cause: BaseException | None, run_id: str) -> str:
    """Where a person finds what a run the budget stopped had paid for: its completed sub-tasks'
    outputs are in the run's failure (the Web UI shows them, decoded by the codec server)."""
    done = [o for o in failed_run(cause).outcomes if o.status is SubTaskStatus.COMPLETED]
    if not done:
        return ""
    return (
        f"; {len(done)} sub-task(s) completed before it stopped: their findings are in the "
        f"failure of workflow {run_id}"
    )


def orchestration_run_id(ticket_workflow_id: str) -> str:
    """The workflow id of a ticket's orchestrator run."""
    return f"{ticket_workflow_id}/resolution"


async def orchestrated_draft(
    ticket: Ticket,
    record: TicketRecord,
    articles: list[KnowledgeArticle],
    config: PipelineConfig,
    agents: AgentCaller,
) -> tuple[Draft, str] | None:
    """The draft and its author, or None when the single resolver must draft instead."""
    view = record.view
    child_id = orchestration_run_id(workflow.info().workflow_id)
    agents.check_budget()
    failure: str | None = None
    record.orchestration_pending = True
    try:
        result = await workflow.execute_child_workflow(
            names.ORCHESTRATOR_WORKFLOW,
            OrchestratorInput(
                task=resolution_task(ticket, record, articles),
                ticket_id=ticket.ticket_id,
                budget=remaining_budget(
                    config.budget,
                    spent_tokens=agents.spent_tokens,
                    spent_cost_usd=agents.spent_cost_usd,
                ),
                retry_until=agents.retry_deadline(),
                # The ticket's snapshot: its plan runs on the ticket's routes and timeouts.
                config=config,
            ),
            id=child_id,
            result_type=OrchestratorResult,
            priority=temporal_priority(record),
            static_summary=f"resolution plan for ticket {ticket.ticket_id}",
        )
    except ChildWorkflowError as err:
        spent = record.orchestration_spent
        if is_cancelled_exception(err) and spent and workflow.patched(PATCH_CANCELLED_RUN_BILLED):
            # What the run said it had spent as it was cancelled (its cancellation carries no
            # details): billed whether the run or the whole ticket was cancelled.
            for role, calls in spent.items():
                for usage in calls:
                    agents.count(AgentRole(role), usage)
        if is_cancelled_exception(err) and (
            workflow.cancellation_reason() is not None
            or not workflow.patched(PATCH_CHILD_CANCEL_FALLS_BACK)
        ):
            raise  # the ticket itself is cancelled (or an older run's rule)
        cause = err.cause
        failure = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        for role, calls in failed_run(cause).usage.items():
            for usage in calls:
                agents.count(AgentRole(role), usage)
        if isinstance(cause, ApplicationError) and cause.type == ORCHESTRATOR_BUDGET_SPENT:
            # Only a run given a budget stops for it: tickets started before runs had one
            # never get here, so their histories replay unchanged.
            kept = findings_kept(cause, child_id)
            try:
                agents.check_budget()  # the ticket's own figures, when they say it already
            except HandOff as stop:
                raise HandOff(stop.reason + kept, code=stop.code) from err
            metrics.budget_handoff()  # (check_budget counts the hand-offs it raises)
            raise HandOff(
                f"the ticket's budget ran out in its orchestrated draft: {failure}{kept}",
                code=ReasonCode.BUDGET,
            ) from err
    except WorkflowAlreadyStartedError:
        # A run from before a reset of this ticket is still there: do not wait on it.
        failure = f"{child_id} is already running (from an earlier run of this ticket)"
    finally:
        record.orchestration_pending = False
        record.orchestration_spent = None
    if failure is None:
        for role, calls in result.usage.items():
            for usage in calls:
                agents.count(AgentRole(role), usage)
        # NUL first: the Draft drops them, and a draft of nothing else must count as empty here.
        answer = result.synthesis.answer.replace("\x00", "").strip()
        text = answer[:MAX_DRAFT_CHARS]
        if len(answer) > MAX_DRAFT_CHARS and workflow.patched(PATCH_LONG_ANSWER_FALLS_BACK):
            failure = (
                f"the synthesizer's answer was {len(answer):,} characters; a reply is at most "
                f"{MAX_DRAFT_CHARS:,}"
            )
        elif text:
            view.orchestration = child_id
            return Draft(text=text, cited_articles=result.synthesis.sources), ORCHESTRATOR_AUTHOR
        else:
            failure = "the synthesizer's answer was empty"
    first = config.routes[AgentRole.RESOLVER][0]
    view.fallbacks.append(
        Fallback(
            role=AgentRole.RESOLVER,
            failed=f"{ORCHESTRATOR_AUTHOR}:{child_id}",
            error=failure,
            next=f"{first.provider}:{first.model}",
            at=workflow.now(),
        )
    )
    return None
