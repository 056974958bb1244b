"""An edit a reader cannot see (only spaces, zero-width or other formatting characters) is no
reply: the update refuses it and a signal's is ignored (patch invisible-edit-ignored); before,
it passed the "not empty" check and the customer got an empty answer."""

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.agents import Priority
from shared.review import ReviewAction, ReviewDecision, visible
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import status, wait_for_state, wait_until
from tests.support.workers import ticket_on_fakes

UNSEEN = "\u200b\u2060\ufeff \n\u200d"


def test_visible_text_is_text_a_reader_sees() -> None:
    assert not visible(UNSEEN) and not visible("") and not visible(None)
    assert visible("\u200bOK") and visible("日本") and visible("…")
    # Fillers and blank braille show nothing though their category says letter or symbol; an
    # emoji newer than this Python's tables (unassigned here) is text.
    assert not visible("\u3164\uffa0\u2800\u034f\ufe0f")
    assert visible("\U0001fa77")


@pytest.mark.usefixtures("replay_check")
async def test_an_edit_nobody_can_see_is_refused_and_its_signal_ignored(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(priority=Priority.URGENT), FakeTicketServices()
    unseen = ReviewDecision(action=ReviewAction.EDIT, edited_text=UNSEEN, reviewer="ana")
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, unseen)
        await handle.signal(names.REVIEW_SIGNAL, unseen)

        async def ignored() -> list | None:  # type: ignore[type-arg]
            return [r for r in (await status(handle)).reviews if not r.applied] or None

        [signal] = await wait_until(ignored, what="the signal recorded as ignored")
        assert (await status(handle)).state is TicketState.AWAITING_REVIEW
        written = ReviewDecision(action=ReviewAction.EDIT, edited_text="\u200bThanks, fixed.")
        await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, written)
        result = await handle.result()

    assert "no character a reader sees" in str(refused.value.cause)
    assert "no character a reader sees" in signal.note
    assert result.state is TicketState.COMPLETED
    assert [d.text for d in services.deliveries] == ["\u200bThanks, fixed."]
