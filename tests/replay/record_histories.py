"""Record ticket-workflow histories for the replay tests.

    python -m tests.replay.record_histories

Run it when a workflow version is released: it drives one ticket through each path of the
lifecycle on the time-skipping server and writes each history to tests/replay/histories/. The
replay test replays every committed history against the current code, so a change that would
break tickets already running in production fails a test instead (use ``workflow.patched``).
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.agents import Priority
from shared.review import ReviewAction, ReviewDecision
from shared.search_attribute_setup import ensure_search_attributes
from tests.support.fakes import FakeAgents, FakeTicketServices, rejection
from tests.support.temporal import CONVERTER, binary, wait_for_state
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import fake_pipeline

HISTORIES = Path(__file__).parent / "histories"
VERSION = "v1"

Scenario = Callable[[WorkflowHandle[Any, Any], WorkflowEnvironment], Awaitable[None]]


async def _review(handle: WorkflowHandle[Any, Any], **fields: Any) -> None:
    await handle.execute_update(names.SUBMIT_REVIEW_UPDATE, ReviewDecision(**fields))


async def completed(handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment) -> None:
    await handle.result()


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


async def failed(handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment) -> None:
    try:
        await handle.result()
    except Exception:
        return
    raise AssertionError("expected the ticket to fail")


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
    "failed": (
        lambda: FakeAgents(
            classify_failures=[
                ApplicationError("bad key", type="AuthenticationError", non_retryable=True)
            ]
        ),
        failed,
    ),
}


async def main() -> int:
    HISTORIES.mkdir(exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER,
        test_server_existing_path=binary("temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    try:
        for name, (make_agents, scenario) in SCENARIOS.items():
            agents, services = make_agents(), FakeTicketServices()
            queue = f"record-{name}"
            async with fake_pipeline(
                env.client, queue, agents.activities() + services.activities()
            ):
                handle = await start_ticket(env.client, queue, make_ticket(ticket_id=f"H-{name}"))
                await scenario(handle, env)
                history = await handle.fetch_history()
            path = HISTORIES / f"ticket-{VERSION}-{name}.json"
            path.write_text(history.to_json())
            print(f"wrote {path} ({len(history.events)} events)")
    finally:
        await env.shutdown()
    return 0


if __name__ == "__main__":
    from shared.temporal_client import exit_process

    exit_process(asyncio.run(main()))
