"""The validator sends drafts back with its findings, a bounded number of times."""

import pytest
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared.pipeline_config import PipelineConfig
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices, rejection
from tests.support.temporal import wait_for_state
from tests.support.workers import ticket_on_fakes

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_the_validators_findings_go_back_to_the_resolver_until_it_approves(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents = FakeAgents(validations=[rejection("too vague"), rejection("still vague")])
    services = FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        result: TicketView = await handle.result()

    drafts = agents.calls["draft"]
    assert [d.revision for d in drafts] == [1, 2, 3]  # type: ignore[attr-defined]
    assert [f.message for f in drafts[1].findings] == ["too vague"]  # type: ignore[attr-defined]
    assert [f.message for f in drafts[2].findings] == ["still vague"]  # type: ignore[attr-defined]
    assert drafts[1].previous_draft is not None  # type: ignore[attr-defined]
    assert result.state is TicketState.COMPLETED
    assert result.revision_rounds == 2 and result.draft is not None and result.draft.revision == 3
    states = [t.to_state for t in result.transitions]
    assert states.count(TicketState.RESOLVED) == 3 and states.count(TicketState.RESOLVING) == 3


async def test_after_the_last_revision_round_a_person_takes_over_instead_of_looping(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents = FakeAgents(validations=[rejection("wrong")] * 10)
    services = FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)

    assert len(agents.calls["draft"]) == 3 and len(agents.calls["validate"]) == 3
    assert view.revision_rounds == 2
    assert [f.message for f in view.findings] == ["wrong"]
    assert view.review_reasons == ["validator still has findings after 2 revision round(s): wrong"]
    assert services.deliveries == []


async def test_the_number_of_revision_rounds_is_configurable(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents = FakeAgents(validations=[rejection("wrong")] * 10)
    services = FakeTicketServices(config=PipelineConfig(max_revision_rounds=0))
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)

    assert len(agents.calls["draft"]) == 1
    assert view.revision_rounds == 0 and "after 0 revision round(s)" in view.review_reasons[0]
