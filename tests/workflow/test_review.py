"""Human review: when the workflow waits for a person, and what each decision does."""

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.agents import Priority
from shared.pipeline_config import PipelineConfig
from shared.review import ReviewAction, ReviewDecision, ReviewReceipt
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices, rejection
from tests.support.temporal import status, wait_for_state, wait_until
from tests.support.workers import ticket_on_fakes
from workflows.review_gate import MAX_REWORKS

pytestmark = pytest.mark.usefixtures("replay_check")


async def _review(handle, **fields) -> ReviewReceipt:  # type: ignore[no-untyped-def]
    return await handle.execute_update(
        names.SUBMIT_REVIEW_UPDATE, ReviewDecision(**fields), result_type=ReviewReceipt
    )


async def test_an_urgent_ticket_waits_for_review_and_is_delivered_once_approved(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        assert waiting.review_reasons == ["priority is Urgent"]
        assert services.deliveries == []

        receipt = await _review(handle, action=ReviewAction.APPROVE, reviewer="ana", revision=1)
        result = await handle.result()

    assert receipt.revision == 1 and receipt.action is ReviewAction.APPROVE
    assert result.state is TicketState.COMPLETED
    assert [d.text for d in services.deliveries] == [waiting.draft.text]  # type: ignore[union-attr]
    assert result.transitions[-1].agent == "reviewer:ana"
    assert [r.applied for r in result.reviews] == [True]


async def test_a_review_of_an_older_draft_revision_is_refused_and_changes_nothing(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await _review(handle, action=ReviewAction.APPROVE, revision=2)

        view = await status(handle)
        assert isinstance(refused.value.cause, ApplicationError)
        assert "revision 2" in refused.value.cause.message
        assert "at revision 1" in refused.value.cause.message
        assert view.state is TicketState.AWAITING_REVIEW
        assert view.reviews == [] and services.deliveries == []


async def test_a_review_while_the_ticket_is_still_being_worked_on_is_refused(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    gate = asyncio.Event()
    agents, services = FakeAgents(resolver_gate=gate), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await asyncio.wait_for(agents.resolver_entered.wait(), timeout=10)

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await _review(handle, action=ReviewAction.APPROVE)
        gate.set()
        result = await handle.result()

    assert "is RESOLVING, not awaiting review" in str(refused.value.cause)
    assert result.state is TicketState.COMPLETED and result.reviews == []


async def test_an_edit_replaces_the_draft_and_sends_the_reviewers_text(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(confidence=0.2), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await _review(handle, action=ReviewAction.EDIT, reviewer="bob", edited_text="Better reply.")
        result = await handle.result()

    assert result.state is TicketState.COMPLETED
    assert result.draft is not None
    assert (result.draft.revision, result.draft.author, result.draft.text) == (
        2,
        "reviewer:bob",
        "Better reply.",
    )
    assert [(d.revision, d.text) for d in services.deliveries] == [(2, "Better reply.")]


async def test_rework_sends_the_draft_back_with_the_notes_and_returns_for_review(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(confidence=0.2), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await _review(handle, action=ReviewAction.REWORK, notes="Mention the spam folder.")
        view = await _back_in_review(handle, revision=2)
        await _review(handle, action=ReviewAction.APPROVE, revision=2)
        result = await handle.result()

    second_draft_request = agents.calls["draft"][1]
    assert second_draft_request.reviewer_notes == "Mention the spam folder."  # type: ignore[attr-defined]
    assert "a reviewer asked for rework" in " ".join(view.review_reasons)
    states = [t.to_state for t in result.transitions]
    assert states.count(TicketState.AWAITING_REVIEW) == 2
    assert "Mention the spam folder." in services.deliveries[0].text
    assert result.state is TicketState.COMPLETED


async def test_rework_gives_the_resolver_the_validators_open_findings_with_the_notes(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """It was given the notes alone: what the validator still found on the reviewed draft came
    back at the next validation, for another round or another review."""
    agents = FakeAgents(validations=[rejection("cites no article")] * 3)
    services = FakeTicketServices(config=PipelineConfig(max_revision_rounds=0))
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await _review(handle, action=ReviewAction.REWORK, notes="Shorter, please.")
        await _back_in_review(handle, revision=2)
        await _review(handle, action=ReviewAction.APPROVE, revision=2)
        await handle.result()

    first, rework = agents.calls["draft"]
    assert first.findings == []  # type: ignore[attr-defined]
    assert [f.message for f in rework.findings] == ["cites no article"]  # type: ignore[attr-defined]
    assert rework.reviewer_notes == "Shorter, please."  # type: ignore[attr-defined]


async def test_a_rejected_ticket_closes_without_sending_anything(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(confidence=0.1), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await _review(handle, action=ReviewAction.REJECT, reason="spam")
        result = await handle.result()

    assert result.state is TicketState.REJECTED
    assert result.transitions[-1].reason == "rejected: spam"
    assert services.deliveries == [] and result.delivery is None


async def test_the_review_signal_applies_like_the_update_and_a_stale_one_is_ignored(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)

        await handle.signal(
            names.REVIEW_SIGNAL, ReviewDecision(action=ReviewAction.APPROVE, revision=7)
        )
        ignored = await wait_until(
            lambda: _reviews(handle), what="the stale signal recorded as ignored"
        )
        assert (await status(handle)).state is TicketState.AWAITING_REVIEW

        # Named as the CLI records its reviewers (copied from a log): prefixed once.
        await handle.signal(
            names.REVIEW_SIGNAL,
            ReviewDecision(action=ReviewAction.APPROVE, reviewer="operator:ana"),
        )
        result = await handle.result()

    assert ignored[0].applied is False and "revision 7" in ignored[0].note
    assert ignored[0].decision is not None
    assert ignored[0].decision.reviewer == "operator:reviewer"
    assert [r.applied for r in result.reviews] == [False, True]
    # Whoever signals has namespace access: recorded as an operator, not as a signed-in reviewer.
    assert result.transitions[-1].agent == "reviewer:operator:ana"
    assert result.state is TicketState.COMPLETED and len(services.deliveries) == 1


async def test_a_review_signal_made_for_another_wait_or_without_the_draft_is_ignored(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The update's validator refuses these; a signal skipped the checks and was applied: an
    # approval made while the ticket waited before (it was reworked since) sent the new draft
    # nobody had read.
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        began = view.review_wait_began()
        assert began is not None and view.draft is not None
        earlier_wait = ReviewDecision(
            action=ReviewAction.APPROVE, waiting_since=began - timedelta(minutes=5)
        )
        no_draft_seen = ReviewDecision(
            action=ReviewAction.EDIT, edited_text="Written blind.", saw_no_draft=True
        )
        another_run = ReviewDecision(action=ReviewAction.REJECT, reason="spam", chain="run-0")
        for stale in (earlier_wait, no_draft_seen, another_run):
            await handle.signal(names.REVIEW_SIGNAL, stale)
        ignored = await wait_until(
            lambda: _ignored(handle, 3), what="the three signals recorded as ignored"
        )
        assert (await status(handle)).state is TicketState.AWAITING_REVIEW

        await handle.signal(
            names.REVIEW_SIGNAL, ReviewDecision(action=ReviewAction.APPROVE, waiting_since=began)
        )
        result = await handle.result()

    assert "wait for this review began at" in ignored[0].note
    assert "made without a draft" in ignored[1].note
    assert "for an earlier ticket under the id" in ignored[2].note
    assert [r.applied for r in result.reviews] == [False, False, False, True]
    assert result.state is TicketState.COMPLETED and len(services.deliveries) == 1
    assert services.deliveries[0].text == view.draft.text


@pytest.mark.parametrize(
    "waiting_since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
)
async def test_a_review_signal_with_a_moment_utc_cannot_hold_is_ignored_not_fatal(
    ts_env: WorkflowEnvironment, task_queue: str, waiting_since: str
) -> None:
    # Saying it in UTC raised OverflowError in the signal's handler: every workflow task of the
    # ticket failed from then on (the signal stays in the history), and it waited for ever.
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        raw = {"action": "reject", "reason": "x", "waiting_since": waiting_since}
        await handle.signal(names.REVIEW_SIGNAL, raw)
        (ignored,) = await wait_until(lambda: _ignored(handle, 1), what="the signal ignored")
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.APPROVE)
        )
        result = await handle.result()

    assert "waiting_since" in ignored.note and "UTC" in ignored.note
    assert result.state is TicketState.COMPLETED and len(services.deliveries) == 1


async def _ignored(handle, count):  # type: ignore[no-untyped-def]
    reviews = [r for r in (await status(handle)).reviews if not r.applied]
    return reviews if len(reviews) >= count else None


async def _reviews(handle):  # type: ignore[no-untyped-def]
    return (await status(handle)).reviews


async def test_a_ticket_takes_at_most_ten_reworks_then_a_person_decides(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Each rework adds a draft, its validation and a wait to the history: unbounded, a ticket
    # reworked some 160 times reached Temporal's history limit and was terminated, state lost.
    agents, services = FakeAgents(confidence=0.2), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        for n in range(1, MAX_REWORKS + 1):
            await _review(handle, action=ReviewAction.REWORK, notes=f"Round {n}.")
            await _back_in_review(handle, revision=n + 1)

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await _review(handle, action=ReviewAction.REWORK, notes="Once more.")
        # The Web UI's signal cannot be refused: it is ignored, with the reason.
        await handle.signal(
            names.REVIEW_SIGNAL, {"action": "rework", "notes": "Again.", "reviewer": "ui"}
        )
        ignored = await wait_until(
            lambda: _ignored_reviews(handle), what="the signalled rework ignored"
        )
        await _review(handle, action=ReviewAction.APPROVE, revision=MAX_REWORKS + 1)
        result = await handle.result()

    assert isinstance(refused.value.cause, ApplicationError)
    assert "sent back for rework 10 times, the most a ticket takes" in refused.value.cause.message
    assert "the most a ticket takes" in ignored[0].note
    assert len(agents.calls["draft"]) == MAX_REWORKS + 1
    assert result.state is TicketState.COMPLETED


async def _ignored_reviews(handle):  # type: ignore[no-untyped-def]
    return [r for r in (await status(handle)).reviews if not r.applied] or None


async def _back_in_review(handle, revision: int) -> TicketView:  # type: ignore[no-untyped-def]
    """The ticket waiting for review again, with the draft of ``revision``."""

    async def back() -> TicketView | None:
        view = await status(handle)
        waiting = view.state is TicketState.AWAITING_REVIEW
        return view if waiting and view.draft and view.draft.revision == revision else None

    result: TicketView = await wait_until(back, what=f"draft {revision} back in review")
    return result
