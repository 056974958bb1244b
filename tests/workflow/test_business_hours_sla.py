"""A ticket's SLA counted in business hours: an Urgent ticket (1 hour) that comes in while the
team is off is escalated an hour after the team's next opening, not an hour after it came in
(the timer, the view and the search attribute all follow the calendar)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.agents import Priority
from shared.business_hours import WEEKDAYS, BusinessHours
from shared.pipeline_config import ReviewPolicyConfig
from shared.review import ReviewAction, ReviewDecision
from shared.tickets import CustomerTier
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices, fake_routes_config
from tests.support.temporal import status, wait_for_state
from tests.support.tickets import make_ticket
from tests.support.workers import ticket_on_fakes

BERLIN = ZoneInfo("Europe/Berlin")

# Each test on a time-skipping server of its own (private_ts_env): the worker records the zone's
# offsets around the real date (shared/business_hours_zone.py, a local activity reading the
# worker's clock), and the session's server had skipped its clock centuries ahead by the time
# these ran (2266 in one run), where the recorded offsets no longer reach: a day in a summer
# then was counted in winter time, and the deadline came an hour off. A production server's
# clock and its workers' agree.


@pytest.mark.usefixtures("replay_check")
@pytest.mark.usefixtures("private_ts_env")  # set up before replay_check, which replays on it
async def test_an_urgent_ticket_in_the_team_s_time_off_is_escalated_an_hour_after_it_opens(
    private_ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    now = await private_ts_env.get_current_time()
    # The team works one day a week, three days from now in Berlin: the ticket comes in (and
    # is triaged) on a day it is off.
    open_day: date = now.astimezone(BERLIN).date() + timedelta(days=3)
    calendar = BusinessHours(
        timezone="Europe/Berlin", days=[WEEKDAYS[open_day.weekday()]], open=time(9), close=time(17)
    )
    services = FakeTicketServices(config=fake_routes_config(business_hours=calendar))
    assert services.config.sla_hours[Priority.URGENT] == 1
    agents = FakeAgents(priority=Priority.URGENT)  # urgent tickets are reviewed
    expected = datetime.combine(open_day, time(10), BERLIN)

    async with ticket_on_fakes(private_ts_env.client, task_queue, agents, services) as handle:
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        assert waiting.priority is Priority.URGENT
        assert waiting.sla_deadline == expected
        # Past the hour the clock would have given it, and to a minute before the deadline.
        await private_ts_env.sleep(
            expected - await private_ts_env.get_current_time() - timedelta(minutes=1)
        )
        before = await status(handle)
        await private_ts_env.sleep(timedelta(minutes=2))
        after = await status(handle)
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.APPROVE)
        )
        result: TicketView = await handle.result()

    assert not before.escalated
    assert after.escalated and after.escalated_at is not None
    assert expected <= after.escalated_at < expected + timedelta(minutes=1)  # the timer's firing
    assert result.state is TicketState.COMPLETED and result.sla_deadline == expected


@pytest.mark.usefixtures("replay_check")
@pytest.mark.usefixtures("private_ts_env")  # set up before replay_check, which replays on it
async def test_a_tier_left_out_of_the_business_hours_is_escalated_around_the_clock(
    private_ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """`tiers` names the tiers whose SLA counts in business hours: an enterprise customer with
    24/7 support is escalated an hour after the ticket came in, on the team's day off too."""
    now = await private_ts_env.get_current_time()
    open_day: date = now.astimezone(BERLIN).date() + timedelta(days=3)
    calendar = BusinessHours(
        timezone="Europe/Berlin",
        days=[WEEKDAYS[open_day.weekday()]],
        tiers=[CustomerTier.FREE, CustomerTier.STANDARD],
    )
    services = FakeTicketServices(config=fake_routes_config(business_hours=calendar))
    agents = FakeAgents(priority=Priority.URGENT)
    ticket = make_ticket(customer_tier=CustomerTier.ENTERPRISE)

    async with ticket_on_fakes(
        private_ts_env.client, task_queue, agents, services, ticket
    ) as handle:
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        assert waiting.sla_deadline is not None
        # An hour after triage, whatever the calendar says (the team is off for days).
        assert waiting.sla_deadline - now < timedelta(hours=1, minutes=1)
        await private_ts_env.sleep(waiting.sla_deadline - await private_ts_env.get_current_time())
        await private_ts_env.sleep(timedelta(minutes=1))
        after = await status(handle)
        await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.APPROVE)
        )
        result: TicketView = await handle.result()

    assert after.escalated
    assert result.state is TicketState.COMPLETED
    assert result.sla_deadline == waiting.sla_deadline


@pytest.mark.usefixtures("replay_check")
@pytest.mark.usefixtures("private_ts_env")  # set up before replay_check, which replays on it
async def test_a_ticket_whose_sla_ends_after_its_final_deadline_closes_at_the_final_deadline(
    private_ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Counted in business hours, an SLA can end after the final review deadline. A worker
    refuses such a configuration when it loads one since 2026-12-07; a ticket's snapshot from
    before is read as it was recorded, as this one (built without the loading checks). The
    ticket closes unanswered at its final deadline, not after waiting the SLA out (patch
    closes-before-sla)."""
    now = await private_ts_env.get_current_time()
    open_day: date = now.astimezone(BERLIN).date() + timedelta(days=3)
    calendar = BusinessHours(
        timezone="Europe/Berlin", days=[WEEKDAYS[open_day.weekday()]], open=time(9), close=time(17)
    )
    config = fake_routes_config(
        business_hours=calendar, review=ReviewPolicyConfig(final_deadline_hours=24)
    )
    services = FakeTicketServices(config=config)
    agents = FakeAgents(priority=Priority.URGENT)

    async with ticket_on_fakes(private_ts_env.client, task_queue, agents, services) as handle:
        waiting = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
        result: TicketView = await handle.result()  # the server skips to the first timer

    began = waiting.transitions[-1].at
    assert waiting.sla_deadline == datetime.combine(open_day, time(10), BERLIN)
    assert waiting.review_closes_at == began + timedelta(hours=24) < waiting.sla_deadline
    closed = result.transitions[-1]
    assert result.state is TicketState.UNANSWERED and not result.escalated
    assert timedelta(0) <= closed.at - waiting.review_closes_at < timedelta(minutes=1)
