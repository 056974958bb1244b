"""The ticket scenarios the recorder runs on the time-skipping server with fake agents and
services (tests/replay/record_histories.py records each as ``ticket-<version>-<name>.json``):
what the test does to the ticket, and which fake agents and services it runs with."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import time, timedelta
from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import AgentRole, AgentRoute, Priority
from shared.business_hours import WEEKDAYS, BusinessHours
from shared.pipeline_config import BudgetConfig
from shared.review import ReviewAction, ReviewDecision
from shared.tickets import CustomerTier, Ticket
from tests.support.fakes import (
    FakeAgents,
    FakeTicketServices,
    fake_routes_config,
    invalid_output,
    rejection,
)
from tests.support.temporal import (
    cancel_seen,
    status,
    wait_for_state,
    wait_until,
)

Scenario = Callable[[WorkflowHandle[Any, Any], WorkflowEnvironment], Awaitable[None]]


async def _review(handle: WorkflowHandle[Any, Any], **fields: Any) -> None:
    await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, ReviewDecision(**fields))


async def completed(handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment) -> None:
    await handle.result()


async def answered_by_a_person_if_handed_over(
    handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment
) -> None:
    view = await wait_for_state(handle, TicketState.AWAITING_REVIEW, TicketState.COMPLETED)
    if view.state is TicketState.AWAITING_REVIEW:
        # No draft: the budget stopped the agents before the resolver.
        await _review(handle, action=ReviewAction.EDIT, edited_text="On it.", saw_no_draft=True)
    await handle.result()


async def answered_by_a_person_unless_failed(
    handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment
) -> None:
    """As answered_by_a_person_if_handed_over; a version whose hand-off failed the ticket (an
    illegal transition before budget-stop-classifies) is recorded failed."""
    view = await wait_for_state(handle, TicketState.AWAITING_REVIEW, TicketState.FAILED)
    if view.state is TicketState.FAILED:
        await failed(handle, env)
        return
    await answered_by_a_person_if_handed_over(handle, env)


async def approved_after_escalation(
    handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment
) -> None:
    await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    await env.sleep(timedelta(hours=2))
    await handle.signal(
        names.REVIEW_SIGNAL, ReviewDecision(action=ReviewAction.APPROVE, revision=9)
    )
    await _review(handle, action=ReviewAction.APPROVE, reviewer="ana", revision=1)
    await handle.result()


async def reworked_then_edited(handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment) -> None:
    await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    await _review(handle, action=ReviewAction.REWORK, notes="Add the link.")
    view = await wait_for_state(handle, TicketState.AWAITING_REVIEW, TicketState.RESOLVING)
    while (
        view.draft is None or view.draft.revision < 4 or view.state != TicketState.AWAITING_REVIEW
    ):
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    await _review(handle, action=ReviewAction.EDIT, edited_text="Final words.", reviewer="bob")
    await handle.result()


async def rejected(handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment) -> None:
    await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    await _review(handle, action=ReviewAction.REJECT, reason="spam")
    await handle.result()


async def unanswered(handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment) -> None:
    """Nobody reviews: escalated at the SLA, closed as UNANSWERED at the final deadline."""
    await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    view = await handle.result()  # the time-skipping server jumps to the final deadline
    assert view.state == TicketState.UNANSWERED, view.state


async def failed(handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment) -> None:
    # The workflow's own failure only: an RPC error or a timeout was recorded as a failed
    # ticket's history.
    try:
        await handle.result()
    except WorkflowFailureError:
        return
    raise AssertionError("expected the ticket to fail")


def delivery_refused() -> FakeTicketServices:
    refusal = ApplicationError(
        "the webhook answered 410 Gone", type=names.DELIVERY_REJECTED_ERROR, non_retryable=True
    )
    return FakeTicketServices(deliver_failures=[refusal])


# The services of the scenario being recorded whose delivery a gate holds (one at a time).
_held: dict[str, FakeTicketServices] = {}


def held_delivery() -> FakeTicketServices:
    """The queued delivery waits for the scenario's gate (the local attempt defers to it). (A
    send that fails after the cancel is not recorded here: the time-skipping server retries an
    activity whose cancel was requested, which a real server does not; the dev-server tests in
    tests/delivery/test_cancelled_while_sending.py replay theirs.)"""
    services = FakeTicketServices(deliver_gate=asyncio.Event())
    _held["services"] = services
    return services


async def cancelled_while_sending(
    handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment
) -> None:
    """Cancelled while the queued delivery is sending (cancel-waits-for-send, v7): the
    workflow waits for it, and it sends: the ticket completes."""
    services = _held["services"]
    await services.deliver_entered.wait()
    await handle.cancel()
    await wait_until(lambda: cancel_seen(handle), timeout=30, what="the cancel seen")
    assert services.deliver_gate is not None
    services.deliver_gate.set()
    view = await handle.result()
    assert view.state == TicketState.COMPLETED, view.state


async def reworked_to_the_cap(handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment) -> None:
    """Sent back for rework as often as a ticket takes (rework-cap, v11), then a rework signal
    (the Web UI's) ignored with the reason, then approved."""
    from workflows.review_gate import MAX_REWORKS

    await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    for n in range(1, MAX_REWORKS + 1):
        await _review(handle, action=ReviewAction.REWORK, notes=f"Round {n}.")

        async def back(revision: int = n + 1) -> bool:
            view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
            return view.draft is not None and view.draft.revision == revision

        await wait_until(back, what=f"rework {n} back in review")
    await handle.signal(
        names.REVIEW_SIGNAL, {"action": "rework", "notes": "Again.", "reviewer": "ui"}
    )
    await _review(handle, action=ReviewAction.APPROVE, revision=MAX_REWORKS + 1)
    view = await handle.result()
    assert [r.applied for r in view.reviews][-2:] == [False, True], view.reviews


# The fake agents of the scenario being recorded, for a scenario that changes them midway.
_agents: dict[str, FakeAgents] = {}


def _kept(agents: FakeAgents) -> FakeAgents:
    _agents["agents"] = agents
    return agents


def _rate_limited(delay: timedelta) -> ApplicationError:
    return ApplicationError("429", type="RateLimited", next_retry_delay=delay)


async def classified_after_a_rate_limit(
    handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment
) -> None:
    """The classifier rate limited for two hours (sla-from-intake): triage comes long after
    intake, so the Urgent ticket's SLA runs from intake and is over on arrival in review; a
    person approves the draft."""
    agents = _agents["agents"]

    async def tried() -> bool | None:
        return agents.classify_attempts >= 1 or None

    await wait_until(tried, what="the first classifier attempt")
    await env.sleep(timedelta(hours=2, minutes=1))
    view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    started = (await handle.describe()).start_time
    assert started is not None and view.sla_deadline is not None
    assert abs(view.sla_deadline - (started + timedelta(hours=1))) < timedelta(seconds=5)
    await _review(handle, action=ReviewAction.APPROVE, revision=1)
    await handle.result()


async def rework_failed_back_to_review(
    handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment
) -> None:
    """Past the SLA, the rework's resolver call is rate limited beyond its retry window
    (rework-failure-back-to-review): the ticket goes back to the reviewer with its first
    draft, who approves it."""
    agents = _agents["agents"]
    await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    await env.sleep(timedelta(hours=2))
    agents.draft_failures.extend(_rate_limited(timedelta(minutes=10)) for _ in range(3))
    await _review(handle, action=ReviewAction.REWORK, notes="Mention the refund.", revision=1)
    await env.sleep(timedelta(minutes=30))  # the retries' backoff, past the window

    async def back() -> bool | None:
        view = await status(handle)
        waiting = view.state is TicketState.AWAITING_REVIEW
        return (waiting and view.review_reason_codes == ["rework-failed"]) or None

    await wait_until(back, what="the ticket back in review")
    await _review(handle, action=ReviewAction.APPROVE, revision=1)
    view = await handle.result()
    assert view.state is TicketState.COMPLETED, view.state


async def completed_without_its_unknown_fields(
    handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment
) -> None:
    view = await handle.result()
    assert view.ignored_input_fields == ["ticket.order_id"], view.ignored_input_fields


SCENARIOS: dict[str, tuple[Callable[[], FakeAgents], Scenario]] = {
    "completed": (lambda: FakeAgents(validations=[rejection("vague")]), completed),
    "approved-after-escalation": (
        lambda: FakeAgents(priority=Priority.URGENT),
        approved_after_escalation,
    ),
    "reworked-then-edited": (
        lambda: FakeAgents(confidence=0.2, validations=[rejection("x"), rejection("y")]),
        reworked_then_edited,
    ),
    "rejected": (lambda: FakeAgents(confidence=0.1), rejected),
    "unanswered": (lambda: FakeAgents(priority=Priority.URGENT), unanswered),
    "failed": (
        lambda: FakeAgents(
            classify_failures=[
                ApplicationError("bad key", type="AuthenticationError", non_retryable=True)
            ]
        ),
        failed,
    ),
    "delivery-failed": (FakeAgents, completed),
    # Since lean-history: no revision round, the local delivery's paths.
    "straight-through": (FakeAgents, completed),
    "delivery-refused-locally": (FakeAgents, completed),
    "delivery-queued": (FakeAgents, completed),
    # Since cancel-waits-for-send (v7).
    "cancelled-while-sending": (FakeAgents, cancelled_while_sending),
    # A ticket started again with its earlier runs' spend in its memo: before
    # budget-counts-earlier-runs (v7) it goes straight through; since (v8) the budget counts
    # that spend, a person takes the ticket at triage, and edits an answer in.
    "restarted-near-its-budget": (FakeAgents, answered_by_a_person_if_handed_over),
    # The same with no room left for the classification: before budget-stop-classifies (v9)
    # the hand-off at NEW failed the ticket (an illegal transition); since (v10) it is
    # classified as not classified and a person edits an answer in.
    "restarted-over-its-budget": (FakeAgents, answered_by_a_person_unless_failed),
    # Since rework-cap (v11): ten reworks, an eleventh by signal ignored, then approved.
    "reworked-to-the-cap": (lambda: FakeAgents(confidence=0.2), reworked_to_the_cap),
    # The classifier's first route answers invalid output past the budget: its backup is not
    # called (budget-before-fallback) and a person edits an answer in.
    "classifier-fallback-over-budget": (
        lambda: FakeAgents(classify_failures=[invalid_output("classifier", tokens=500)]),
        answered_by_a_person_if_handed_over,
    ),
    # Paths of v11's code that no committed history held (tests/replay/test_patch_coverage.py):
    # sla-from-intake, rework-failure-back-to-review, ignore-unknown-input-fields.
    "classified-after-a-rate-limit": (
        lambda: _kept(
            FakeAgents(
                priority=Priority.URGENT, classify_failures=[_rate_limited(timedelta(hours=2))]
            )
        ),
        classified_after_a_rate_limit,
    ),
    "rework-failed-back-to-review": (
        lambda: _kept(FakeAgents(priority=Priority.URGENT)),
        rework_failed_back_to_review,
    ),
    "input-from-a-newer-version": (FakeAgents, completed_without_its_unknown_fields),
    # Recorded with v12's code after business hours (no patch: the snapshot's calendar and
    # its recorded offsets decide the deadline) and their `tiers`: an Urgent ticket escalated
    # in the team's hours, and an enterprise one whose tier the calendar leaves out.
    "escalated-in-business-hours": (
        lambda: FakeAgents(priority=Priority.URGENT),
        approved_after_escalation,
    ),
    "around-the-clock-for-its-tier": (
        lambda: FakeAgents(priority=Priority.URGENT),
        approved_after_escalation,
    ),
}

# Each fake agent call costs $0.001, as did the earlier runs' ten: with their $0.010 spent, the
# classification fits under this limit and triage does not.
NEAR_BUDGET = BudgetConfig(max_cost_usd=0.0115)
EARLIER_RUNS_USAGE = {"tokens": 150, "cost_usd": 0.010, "calls": 10, "runs": 1}
# With the earlier runs' $0.010, not even the classification fits under this one.
OVER_BUDGET = BudgetConfig(max_cost_usd=0.0105)
# What a scenario's ticket starts with in its memo, besides what the starter always sets.
START_MEMOS: dict[str, dict[str, Any]] = {
    "restarted-near-its-budget": {sa.MEMO_EARLIER_USAGE: EARLIER_RUNS_USAGE},
    "restarted-over-its-budget": {sa.MEMO_EARLIER_USAGE: EARLIER_RUNS_USAGE},
}


def _with_a_newer_field(ticket: Ticket) -> dict[str, Any]:
    """The input a newer starter sends: a ticket field this version does not know."""
    return {"ticket": {**ticket.model_dump(mode="json"), "order_id": "ORD-1"}}


def _enterprise(ticket: Ticket) -> dict[str, Any]:
    return {"ticket": {**ticket.model_dump(mode="json"), "customer_tier": "enterprise"}}


# A scenario's start input where it is not ``TicketRequest(ticket=...)``.
START_INPUTS: dict[str, Callable[[Ticket], dict[str, Any]]] = {
    "input-from-a-newer-version": _with_a_newer_field,
    "around-the-clock-for-its-tier": _enterprise,
}


def delivery_refused_locally() -> FakeTicketServices:
    refusal = ApplicationError(
        "the webhook answered 410 Gone", type=names.DELIVERY_REJECTED_ERROR, non_retryable=True
    )
    return FakeTicketServices(deliver_now_failures=[refusal])


def delivery_queued() -> FakeTicketServices:
    unavailable = ApplicationError(
        "the webhook answered 503", type=names.DELIVERY_UNAVAILABLE_ERROR
    )
    return FakeTicketServices(deliver_now_failures=[unavailable])


def near_budget() -> FakeTicketServices:
    return FakeTicketServices(config=fake_routes_config(budget=NEAR_BUDGET))


def over_budget() -> FakeTicketServices:
    return FakeTicketServices(config=fake_routes_config(budget=OVER_BUDGET))


# Open every day but a minute at midnight, in Berlin: the escalation comes within the scenario's
# two hours, and the snapshot records the zone's offsets.
WEEK_IN_BERLIN = BusinessHours(
    timezone="Europe/Berlin", days=list(WEEKDAYS), open=time(0), close=time(23, 59)
)


def in_business_hours() -> FakeTicketServices:
    return FakeTicketServices(config=fake_routes_config(business_hours=WEEK_IN_BERLIN))


def in_business_hours_but_enterprise() -> FakeTicketServices:
    calendar = WEEK_IN_BERLIN.model_copy(update={"tiers": [CustomerTier.FREE]})
    return FakeTicketServices(config=fake_routes_config(business_hours=calendar))


# Scenarios whose services are not the default ones.
def classifier_with_a_backup_over_budget() -> FakeTicketServices:
    config = fake_routes_config(budget=BudgetConfig(max_tokens=400))
    first = config.routes[AgentRole.CLASSIFIER][0]
    backup = AgentRoute(provider=first.provider, model="backup")
    routes = config.routes | {AgentRole.CLASSIFIER: [first, backup]}
    return FakeTicketServices(config=config.model_copy(update={"routes": routes}))


SERVICES: dict[str, Callable[[], FakeTicketServices]] = {
    "classifier-fallback-over-budget": classifier_with_a_backup_over_budget,
    "restarted-near-its-budget": near_budget,
    "restarted-over-its-budget": over_budget,
    "delivery-failed": delivery_refused,
    "delivery-refused-locally": delivery_refused_locally,
    "delivery-queued": delivery_queued,
    "cancelled-while-sending": held_delivery,
    "escalated-in-business-hours": in_business_hours,
    "around-the-clock-for-its-tier": in_business_hours_but_enterprise,
}
