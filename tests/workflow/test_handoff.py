"""When the agents cannot finish, a person takes over: invalid output, a spent budget."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import AgentRole, AgentRoute, Priority
from shared.pipeline_config import BudgetConfig
from shared.review import ReviewAction, ReviewDecision
from shared.review_operations import ReviewRefused, in_the_current_wait
from shared.view import TicketView
from tests.support.fake_fanout import FakeOrchestrationAgents, plan, task
from tests.support.fakes import (
    FakeAgents,
    FakeTicketServices,
    fake_routes_config,
    invalid_output,
    rejection,
)
from tests.support.temporal import patch_ids, running, status, wait_for_state, wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import fake_pipeline, ticket_on_fakes
from workflows import ticket_stages

pytestmark = pytest.mark.usefixtures("replay_check")


async def _review(handle, **fields):  # type: ignore[no-untyped-def]
    return await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, ReviewDecision(**fields))


async def test_a_resolver_whose_output_stays_invalid_hands_the_ticket_to_a_person(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents = FakeAgents(draft_failures=[invalid_output("resolver", tokens=40)])
    services = FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await _review(handle, action=ReviewAction.APPROVE)
        await _review(handle, action=ReviewAction.EDIT, edited_text="Written by a person.")
        result: TicketView = await handle.result()

    came_from = [
        t.from_state for t in view.transitions if t.to_state is TicketState.AWAITING_REVIEW
    ]
    assert came_from == [TicketState.RESOLVING]
    assert len(view.review_reasons) == 1
    assert view.review_reasons[0].startswith("the resolver agent's output stayed invalid")
    assert view.review_reason_codes == ["invalid-output"]
    assert view.draft is None and view.state is TicketState.AWAITING_REVIEW
    assert view.usage["resolver"].input_tokens == 40  # what the failed call spent still counts
    assert [f.role for f in view.fallbacks] == ["resolver"] and view.fallbacks[0].next is None
    assert "no draft to approve" in str(refused.value.cause)
    assert result.state is TicketState.COMPLETED
    assert [d.text for d in services.deliveries] == ["Written by a person."]


async def test_a_classifier_with_invalid_output_leaves_an_unknown_category_for_a_person(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents = FakeAgents(classify_failures=[invalid_output("classifier")])
    services = FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await _review(handle, action=ReviewAction.REJECT, reason="test over")
        await handle.result()

    assert (view.category, view.confidence) == ("General", 0.0)
    assert view.draft is not None  # the other agents still did their work
    assert view.review_reasons[0].startswith("the classifier agent's output stayed invalid")
    assert any("confidence 0.00 is below" in r for r in view.review_reasons)
    assert view.review_reason_codes == ["invalid-output", "low-confidence"]


@pytest.mark.parametrize("complex_ticket", [False, True], ids=["simple", "complex"])
async def test_a_ticket_that_would_pass_its_token_budget_stops_and_waits_for_a_person(
    ts_env: WorkflowEnvironment, task_queue: str, complex_ticket: bool
) -> None:
    # Fake calls spend 15 tokens (classify, triage); the next call would pass 40. A complex
    # ticket's rework once went to the orchestrator again, which the budget stopped at once:
    # back in review with no draft, however often the person asked.
    services = FakeTicketServices(config=fake_routes_config(budget=BudgetConfig(max_tokens=40)))
    agents = FakeAgents(complex=complex_ticket)
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        # A reviewer's rework is their decision to spend more: the budget does not stop it.
        await _review(handle, action=ReviewAction.REWORK, notes="Go ahead.")
        reworked = await wait_until(
            lambda: _with_draft(handle), what="the reworked draft back in review"
        )
        await _review(handle, action=ReviewAction.APPROVE)
        result: TicketView = await handle.result()

    assert view.draft is None and len(agents.calls["draft"]) == 1  # only after the rework
    assert view.total_tokens == 30
    assert view.review_reasons == [
        "the ticket's token budget: 30 spent, the next call needs about 15, the limit is 40"
    ]
    assert view.review_reason_codes == ["budget"]
    assert reworked.draft.revision == 1
    assert agents.calls["draft"][0].reviewer_notes == "Go ahead."  # type: ignore[attr-defined]
    assert result.state is TicketState.COMPLETED


async def test_a_restarted_ticket_counts_what_its_earlier_runs_spent_against_its_budget(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Each run started with the whole budget: a ticket failed and restarted N times (redrive,
    # a resubmission) could spend N budgets. The starter puts the earlier runs' spend in the
    # memo (shared/operations.py start_ticket); 20 tokens of it in one call (so the next call
    # is taken to need 20 too), and the classification's 15, leave no room for triage under 40.
    services = FakeTicketServices(config=fake_routes_config(budget=BudgetConfig(max_tokens=40)))
    agents = FakeAgents()
    earlier = {sa.MEMO_EARLIER_USAGE: {"tokens": 20, "cost_usd": 0.002, "calls": 1, "runs": 1}}
    activities = agents.activities() + services.activities()
    async with fake_pipeline(ts_env.client, task_queue, activities, llm_queue=services.agent_queue):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket(), memo=earlier)
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await handle.cancel()

    assert view.total_tokens == 15 and "triage" not in agents.calls  # own calls: classify
    assert view.review_reasons == [
        "the ticket's token budget: 35 spent, the next call needs about 20, the limit is 40 "
        "(of which 20 tokens came from this ticket's earlier runs)"
    ]


async def _with_draft(handle):  # type: ignore[no-untyped-def]
    view = await status(handle)
    return view if view.draft and view.state is TicketState.AWAITING_REVIEW else None


async def test_an_orchestrator_run_cancelled_on_its_own_falls_back_to_the_resolver(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A complex ticket's orchestrator run hangs (no worker takes its planner's call) and an
    # operator cancels it: once, that failed the whole ticket (workflow FAILED, state CANCELLED).
    agents, services = FakeAgents(complex=True), FakeTicketServices()
    async with ticket_on_fakes(dev_env.client, task_queue, agents, services) as handle:
        child = dev_env.client.get_workflow_handle(f"{handle.id}/resolution")
        await wait_until(lambda: running(child), what="the orchestrator run")
        await child.cancel()
        result: TicketView = await handle.result()

    assert result.state is TicketState.COMPLETED
    assert len(agents.calls["draft"]) == 1 and result.draft is not None
    assert result.draft.author != "orchestrator"
    assert [f.failed for f in result.fallbacks] == [f"orchestrator:{handle.id}/resolution"]
    assert "cancel" in (result.fallbacks[0].error or "").lower()


async def test_a_synthesized_answer_longer_than_a_reply_falls_back_to_the_resolver(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # It was cut at 8,000 characters, mid sentence, and the cut draft went on to the customer.
    agents, services = FakeAgents(complex=True), FakeTicketServices()
    orchestration = FakeOrchestrationAgents(
        plans=[plan(task("write", "writer"))], synthesis_answer="A long reply. " * 700
    )
    async with ticket_on_fakes(
        ts_env.client, task_queue, agents, services, orchestration=orchestration
    ) as handle:
        result: TicketView = await handle.result()

    assert len(orchestration.synthesis_requests) == 1
    assert result.state is TicketState.COMPLETED and result.draft is not None
    assert result.draft.author != "orchestrator" and len(agents.calls["draft"]) == 1
    assert [f.error for f in result.fallbacks] == [
        "the synthesizer's answer was 9,799 characters; a reply is at most 8,000"
    ]


async def test_a_draft_the_budget_stopped_before_validation_shows_no_findings_of_the_one_before(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Classify and triage 15 tokens each, a draft 150, a validation 15: the validator sends
    # revision 1 back; revision 2 is drafted (345 spent) and its validation would pass 360.
    services = FakeTicketServices(config=fake_routes_config(budget=BudgetConfig(max_tokens=360)))
    agents = FakeAgents(validations=[rejection("cite the refund article")])
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await _review(handle, action=ReviewAction.REJECT, reason="test over")
        await handle.result()

    assert view.draft is not None and view.draft.revision == 2
    assert len(agents.calls["validate"]) == 1
    assert view.review_reasons[0].startswith("the ticket's token budget")
    assert view.findings == []  # revision 1's, shown beside revision 2 before


async def test_a_fallback_route_that_would_pass_the_spent_budget_is_not_called(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The resolver's first route answers invalid output twice over (1,000 tokens) against a
    # 400-token budget: the backup route was called anyway, the budget already spent twice.
    config = fake_routes_config(budget=BudgetConfig(max_tokens=400))
    first = config.routes[AgentRole.RESOLVER][0]
    backup = AgentRoute(provider=first.provider, model="backup")
    config = config.model_copy(
        update={"routes": config.routes | {AgentRole.RESOLVER: [first, backup]}}
    )
    services = FakeTicketServices(config=config)
    agents = FakeAgents(draft_failures=[invalid_output("resolver", tokens=500)])
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await _review(handle, action=ReviewAction.REJECT, reason="test over")
        await handle.result()

    assert [c.route.model for c in agents.calls["draft"]] == ["fake-model"]  # type: ignore[attr-defined]
    assert view.total_tokens == 30 + 1000
    assert view.review_reasons[0].startswith("the ticket's token budget")
    assert [(f.failed, f.next) for f in view.fallbacks] == [(f"{first.provider}:fake-model", None)]


async def test_a_rework_whose_call_fails_on_every_route_goes_back_to_the_reviewer(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Past the SLA a call gets only the least retry window (15 minutes): a rate-limit spell of
    # 20 minutes spent the rework's resolver call, and the whole ticket failed, its draft unsent.
    agents = FakeAgents(priority=Priority.URGENT)
    services = FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        back = await _rework_that_fails(ts_env, agents, handle)
        await _review(handle, action=ReviewAction.APPROVE, revision=1)
        result: TicketView = await handle.result()

    assert back.review_reasons[0].startswith("the rework could not be finished: draft_resolution")
    # The policy's own reasons too (an Urgent ticket), as a hand-off's: a queue filtered on
    # 'urgent' missed it.
    assert back.review_reason_codes == ["rework-failed", "urgent"]
    assert back.draft is not None and back.draft.revision == 1
    assert result.state is TicketState.COMPLETED
    assert [d.revision for d in services.deliveries] == [1]


async def test_a_review_made_before_a_failed_rework_came_back_is_refused(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Two reviewers open revision 1; one sends it back for rework, whose call fails on every
    # route: the ticket waits again with the same revision. The other's approval, made on the
    # page from before, was applied: the draft sent back went to the customer.
    agents = FakeAgents(priority=Priority.URGENT)
    services = FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        first = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        seen = first.review_wait_began()
        back = await _rework_that_fails(ts_env, agents, handle)
        with pytest.raises(WorkflowUpdateFailedError) as stale:
            await _review(
                handle, action=ReviewAction.APPROVE, revision=1, waiting_since=seen, reviewer="b"
            )
        await _review(
            handle,
            action=ReviewAction.REJECT,
            reason="test over",
            revision=1,
            waiting_since=back.review_wait_began(),
        )
        result: TicketView = await handle.result()

    assert seen is not None and back.review_wait_began() != seen
    assert "sent back for rework since and waits again" in str(stale.value.cause)
    assert result.state is TicketState.REJECTED
    assert services.deliveries == []


async def test_a_rework_whose_answers_stay_invalid_says_the_draft_shown_was_sent_back(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The rework's resolver answers invalid output on every route: the ticket waited again
    # with revision 1, coded only as an invalid output, so an approval of revision 1 made on
    # the page before (the command line names no wait) was taken as made in this one, and the
    # draft a reviewer had sent back went to the customer (a review, 2026-12-07).
    agents = FakeAgents(priority=Priority.URGENT)
    services = FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        agents.draft_failures.append(invalid_output("resolver"))
        await _review(handle, action=ReviewAction.REWORK, notes="mention the refund", revision=1)
        back = await wait_until(lambda: _reviewed_again(handle), what="the ticket back in review")
        stale = ReviewDecision(action=ReviewAction.APPROVE, revision=1, reviewer="b")
        with pytest.raises(ReviewRefused, match="was sent back for rework, which failed"):
            in_the_current_wait(back.ticket_id, stale, back)
        await _review(handle, action=ReviewAction.REJECT, reason="test over", revision=1)
        await handle.result()

    assert back.draft is not None and back.draft.revision == 1
    assert {"invalid-output", "rework-failed", "urgent"} <= set(back.review_reason_codes)
    assert services.deliveries == []


async def _rework_that_fails(ts_env, agents, handle):  # type: ignore[no-untyped-def]
    """Past the SLA (2 hours on), the reviewer sends revision 1 back for rework and its
    resolver call is rate limited past the least retry window: the ticket back in review."""
    await ts_env.sleep(timedelta(hours=2))
    agents.draft_failures.extend(
        ApplicationError("429", type="RateLimited", next_retry_delay=timedelta(minutes=10))
        for _ in range(3)
    )
    await _review(handle, action=ReviewAction.REWORK, notes="mention the refund", revision=1)

    async def retry_scheduled() -> bool:
        # The server holds the first refusal and the retry's time: skipped before that, the
        # half hour passed with nothing waiting and the retries ran on the wall clock (a flake).
        pending = (await handle.describe()).raw_description.pending_activities
        return any(p.HasField("last_failure") for p in pending)

    await wait_until(retry_scheduled, what="the rework's first call refused")
    await ts_env.sleep(timedelta(minutes=30))  # the retries' backoff, past the window
    return await wait_until(lambda: _reviewed_again(handle), what="the ticket back in review")


async def _reviewed_again(handle):  # type: ignore[no-untyped-def]
    view = await status(handle)
    reworked = any(r.decision and r.decision.action is ReviewAction.REWORK for r in view.reviews)
    waiting = view.state is TicketState.AWAITING_REVIEW and reworked
    return view if waiting and view.transitions[-1].from_state is TicketState.RESOLVING else None


async def test_a_restart_whose_earlier_runs_spent_the_budget_goes_to_a_person_unclassified(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The earlier runs' 30 tokens in one call leave no room for a classification under 40: the
    # hand-off moved NEW -> AWAITING_REVIEW, which the lifecycle refuses, and the ticket FAILED
    # on an illegal transition with nobody asked. It is now classified as not classified, then
    # waits; the reviewer's rework (their call to spend more) drafts and validates.
    services = FakeTicketServices(config=fake_routes_config(budget=BudgetConfig(max_tokens=40)))
    agents = FakeAgents()
    earlier = {sa.MEMO_EARLIER_USAGE: {"tokens": 30, "cost_usd": 0.003, "calls": 1, "runs": 1}}
    activities = agents.activities() + services.activities()
    async with fake_pipeline(ts_env.client, task_queue, activities, llm_queue=services.agent_queue):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket(), memo=earlier)
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await _review(handle, action=ReviewAction.REWORK, notes="Answer the refund question.")
        reworked = await wait_until(lambda: _with_draft(handle))
        await _review(handle, action=ReviewAction.APPROVE, revision=reworked.draft.revision)
        result: TicketView = await handle.result()

    # Never classified: no "classifier confidence 0.00 is below the threshold" after the rework.
    assert "low-confidence" not in reworked.review_reason_codes
    assert "reworked" in reworked.review_reason_codes
    assert [t.to_state for t in waiting.transitions] == [
        TicketState.NEW,
        TicketState.CLASSIFIED,
        TicketState.AWAITING_REVIEW,
    ]
    assert waiting.confidence == 0.0 and waiting.total_tokens == 0
    assert "classify" not in agents.calls and "triage" not in agents.calls
    assert waiting.review_reason_codes == ["budget"]
    assert waiting.review_reasons[0].startswith("the ticket's token budget: 30 spent")
    assert len(agents.calls["draft"]) == 1 and result.state is TicketState.COMPLETED


async def test_a_classifier_fallback_the_budget_stops_hands_the_ticket_to_a_person(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The classifier's first route answers invalid output (1,000 tokens) against a 400-token
    # budget: its backup route is not called, and the ticket, still NEW, goes to a person.
    config = fake_routes_config(budget=BudgetConfig(max_tokens=400))
    first = config.routes[AgentRole.CLASSIFIER][0]
    backup = AgentRoute(provider=first.provider, model="backup")
    config = config.model_copy(
        update={"routes": config.routes | {AgentRole.CLASSIFIER: [first, backup]}}
    )
    services = FakeTicketServices(config=config)
    agents = FakeAgents(classify_failures=[invalid_output("classifier", tokens=500)])
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await _review(handle, action=ReviewAction.REJECT, reason="test over")
        result: TicketView = await handle.result()

    assert agents.classify_attempts == 1 and view.total_tokens == 1000
    assert [t.to_state for t in view.transitions][:3] == [
        TicketState.NEW,
        TicketState.CLASSIFIED,
        TicketState.AWAITING_REVIEW,
    ]
    assert view.review_reason_codes == ["budget"] and result.state is TicketState.REJECTED


async def test_a_budget_stop_whose_first_task_starts_late_keeps_the_sla_patch_out_of_that_task(
    ts_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A restarted ticket whose first workflow task started over a minute after its start (a
    # backlog, a worker outage) asked sla-from-intake right after the configuration snapshot's
    # local activity; on the dev server that task was completed at the local activity's marker
    # and the patch's went in the next one, and every replay failed (TMPRL1100): the ticket
    # stuck, its review refused. This version knows the patch, so the hand-off takes the
    # deadline from intake without a marker. "Late" is made every start here (a minute's real
    # wait otherwise), on the unsandboxed runner, whose modules are these.
    monkeypatch.setattr(ticket_stages, "SLA_FROM_INTAKE_AFTER", timedelta(seconds=-1))
    services = FakeTicketServices(config=fake_routes_config(budget=BudgetConfig(max_tokens=40)))
    agents = FakeAgents()
    earlier = {sa.MEMO_EARLIER_USAGE: {"tokens": 30, "cost_usd": 0.003, "calls": 1, "runs": 1}}
    activities = agents.activities() + services.activities()
    async with fake_pipeline(
        ts_env.client,
        task_queue,
        activities,
        llm_queue=services.agent_queue,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket(), memo=earlier)
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        history = await handle.fetch_history()
        await _review(handle, action=ReviewAction.REJECT, reason="test over")
        await handle.result()

    came_in = (await handle.describe()).start_time
    assert "sla-from-intake" not in patch_ids(history.events)
    assert waiting.priority is Priority.MEDIUM and came_in is not None
    hours = services.config.sla_hours[Priority.MEDIUM]
    assert waiting.sla_deadline == came_in + timedelta(hours=hours)
