"""A reviewer's edit labelled as the team's own ("INTERNAL:", "[internal]", "internal note",
TODO) is refused by the review update, naming the label: pasted from a note, it went to the
customer as written. Since patch internal-edit-ignored the Web UI's review signal carrying one
is recorded as ignored, with why (a signal cannot be refused; before, it was applied). Advice
that merely says "do not share" is a reply like any other."""

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.agents import Priority
from shared.review import ReviewAction, ReviewDecision
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import status, wait_for_state, wait_until
from tests.support.workers import ticket_on_fakes

PASTED = "Thanks, fixed.\nINTERNAL: refund above 500 USD approved by the team lead, do not share"
ADVICE = "Thanks, fixed. Please do not share your password with anyone."
NOTE = "INTERNAL: customer is on the refund watch list, check with finance first.\nThanks!"


@pytest.mark.usefixtures("replay_check")
async def test_an_edit_labelled_internal_is_refused_and_advice_goes_out(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        pasted = ReviewDecision(action=ReviewAction.EDIT, edited_text=PASTED, reviewer="ana")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, pasted)
        assert (await status(handle)).state is TicketState.AWAITING_REVIEW
        advice = ReviewDecision(action=ReviewAction.EDIT, edited_text=ADVICE, reviewer="ana")
        await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, advice)
        result = await handle.result()

    assert "the edited reply holds 'INTERNAL:'" in str(refused.value.cause)
    assert result.state is TicketState.COMPLETED
    assert [d.text for d in services.deliveries] == [ADVICE]


@pytest.mark.usefixtures("replay_check")
async def test_an_edit_labelled_internal_is_refused_and_its_signal_ignored(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    note = ReviewDecision(action=ReviewAction.EDIT, edited_text=NOTE, reviewer="ana")
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, note)
        # What the Web UI's signal dialog sends: a signal cannot be refused.
        await handle.signal(names.REVIEW_SIGNAL, note.model_dump(mode="json"))

        async def ignored() -> list | None:  # type: ignore[type-arg]
            return [r for r in (await status(handle)).reviews if not r.applied] or None

        [signal] = await wait_until(ignored, what="the signal recorded as ignored")
        assert (await status(handle)).state is TicketState.AWAITING_REVIEW
        written = ReviewDecision(action=ReviewAction.EDIT, edited_text="Thanks, refunded.")
        await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, written)
        result = await handle.result()

    assert "'INTERNAL:'" in str(refused.value.cause)
    assert "'INTERNAL:'" in signal.note and "marks the team's own notes" in signal.note
    assert signal.decision is not None and signal.decision.reviewer == "operator:ana"
    assert result.state is TicketState.COMPLETED
    assert [d.text for d in services.deliveries] == ["Thanks, refunded."]


# A sentence that names an internal note, and a plan not for customers somewhere: replies a
# person may write (patch internal-edit-narrowed; the broad rule refused both).
IN_A_SENTENCE = (
    "I have added an internal note to your account so billing sees the refund. "
    "The old plan is not for customers in the EU any more."
)


@pytest.mark.usefixtures("replay_check")
async def test_an_edit_that_mentions_an_internal_note_in_a_sentence_goes_out(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    edit = ReviewDecision(action=ReviewAction.EDIT, edited_text=IN_A_SENTENCE, reviewer="ana")
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, edit)
        result = await handle.result()

    assert result.state is TicketState.COMPLETED
    assert [d.text for d in services.deliveries] == [IN_A_SENTENCE]


@pytest.mark.usefixtures("replay_check")
async def test_a_signal_whose_edit_mentions_an_internal_note_in_a_sentence_is_applied(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    edit = ReviewDecision(action=ReviewAction.EDIT, edited_text=IN_A_SENTENCE, reviewer="ana")
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        # What the Web UI's signal dialog sends.
        await handle.signal(names.REVIEW_SIGNAL, edit.model_dump(mode="json"))
        result = await handle.result()

    assert result.state is TicketState.COMPLETED
    assert [d.text for d in services.deliveries] == [IN_A_SENTENCE]
    assert [r.applied for r in result.reviews] == [True]
