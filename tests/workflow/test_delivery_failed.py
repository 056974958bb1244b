"""A delivery that cannot go out ends the ticket in DELIVERY_FAILED, a named state with the
reason, whether it was refused for good or kept failing until its retries ran out."""

from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import Priority
from shared.review import ReviewAction, ReviewDecision, ReviewReceipt
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import wait_for_state
from tests.support.workers import ticket_on_fakes

pytestmark = pytest.mark.usefixtures("replay_check")


def refused(reason: str) -> ApplicationError:
    return ApplicationError(reason, type=names.DELIVERY_REJECTED_ERROR, non_retryable=True)


async def test_a_refused_delivery_ends_in_delivery_failed_and_the_workflow_completes(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeTicketServices(deliver_failures=[refused("the webhook answered 410 Gone")])
    async with ticket_on_fakes(ts_env.client, task_queue, FakeAgents(), services) as handle:
        result: TicketView = await handle.result()
        attrs = (await handle.describe()).typed_search_attributes

    assert result.state is TicketState.DELIVERY_FAILED
    assert result.failure == (
        "deliver_response failed: DeliveryRejected: the webhook answered 410 Gone"
    )
    assert result.delivery is None and services.deliveries == []
    # The local first attempt deferred to the queue (the fake does when failures are scripted).
    assert [t.to_state for t in result.transitions][-3:] == [
        "VALIDATED",
        "DELIVERING",
        "DELIVERY_FAILED",
    ]
    assert attrs.get(sa.TICKET_STATE) == TicketState.DELIVERY_FAILED


async def test_a_reviewed_answer_whose_delivery_is_refused_ends_in_delivery_failed(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeTicketServices(deliver_failures=[refused("no such mailbox")])
    agents = FakeAgents(priority=Priority.URGENT)
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE,
            ReviewDecision(action=ReviewAction.APPROVE, reviewer="ana", revision=1),
            result_type=ReviewReceipt,
        )
        result: TicketView = await handle.result()
    assert result.state is TicketState.DELIVERY_FAILED
    assert [t.to_state for t in result.transitions][-3:] == [
        "AWAITING_REVIEW",
        "DELIVERING",
        "DELIVERY_FAILED",
    ]


async def test_transient_delivery_failures_are_retried_until_the_answer_goes_out(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    unavailable = [
        ApplicationError("the webhook answered 503", type=names.DELIVERY_UNAVAILABLE_ERROR)
        for _ in range(3)
    ]
    services = FakeTicketServices(deliver_failures=unavailable)
    async with ticket_on_fakes(ts_env.client, task_queue, FakeAgents(), services) as handle:
        result: TicketView = await handle.result()
    assert result.state is TicketState.COMPLETED and len(services.deliveries) == 1


async def test_a_refusal_on_the_local_first_attempt_ends_in_delivery_failed_without_queueing(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeTicketServices(deliver_now_failures=[refused("the webhook answered 410 Gone")])
    async with ticket_on_fakes(ts_env.client, task_queue, FakeAgents(), services) as handle:
        result: TicketView = await handle.result()
        history = await handle.fetch_history()
    assert result.state is TicketState.DELIVERY_FAILED
    assert result.failure == (
        "deliver_response failed: DeliveryRejected: the webhook answered 410 Gone"
    )
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert names.DELIVER_RESPONSE not in scheduled and services.deliveries == []


async def test_a_local_attempt_that_fails_for_now_goes_to_the_delivery_queue(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    unavailable = ApplicationError(
        "the webhook answered 503", type=names.DELIVERY_UNAVAILABLE_ERROR
    )
    services = FakeTicketServices(deliver_now_failures=[unavailable])
    async with ticket_on_fakes(ts_env.client, task_queue, FakeAgents(), services) as handle:
        result: TicketView = await handle.result()
    assert result.state is TicketState.COMPLETED and len(services.deliveries) == 1
    delivering = result.transitions[-2]
    assert (delivering.from_state, delivering.to_state) == ("VALIDATED", "DELIVERING")
    # In the channel's words (it said only "failed: DeliveryUnavailable").
    assert delivering.reason == (
        "first attempt failed for now (deliver_response_now failed: DeliveryUnavailable: the "
        "webhook answered 503); queued for delivery with retries"
    )


@pytest.mark.parametrize(
    ("failure", "waits"),
    [
        pytest.param(names.DELIVERY_IN_PROGRESS_ERROR, False, id="another-attempt-holds-it"),
        pytest.param(names.DELIVERY_UNAVAILABLE_ERROR, True, id="retry-after"),
    ],
)
async def test_only_a_destination_that_asked_for_time_holds_the_queued_attempt_back(
    ts_env: WorkflowEnvironment, task_queue: str, failure: str, waits: bool
) -> None:
    # Another attempt's claim (a replayed ticket's local attempt) set a retry delay too, and was
    # taken for the destination's Retry-After: the queued attempt failed at once, its try spent
    # and the ticket's reason pointing at a destination that had asked for nothing.
    local = ApplicationError(
        "the local attempt could not send now",
        type=failure,
        next_retry_delay=timedelta(seconds=5),
    )
    services = FakeTicketServices(deliver_now_failures=[local])
    async with ticket_on_fakes(ts_env.client, task_queue, FakeAgents(), services) as handle:
        result: TicketView = await handle.result()

    assert result.state is TicketState.COMPLETED and len(services.deliveries) == 1
    assert (services.deliveries[0].not_before is not None) is waits


async def test_a_first_attempt_that_delivers_moves_straight_to_completed(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, FakeAgents(), services) as handle:
        result: TicketView = await handle.result()
    assert [t.to_state for t in result.transitions][-2:] == ["VALIDATED", "COMPLETED"]
