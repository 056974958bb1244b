"""Failures: retried when they may pass, a fallback route if one exists, else a clear FAILED."""

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from policy.transitions import TicketState
from shared import names
from shared.agents import AgentRole, AgentRoute
from shared.pipeline_config import PipelineConfig
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.illegal_workflow import IllegalMoveWorkflow
from tests.support.temporal import status
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import fake_pipeline, running, ticket_on_fakes


@pytest.mark.usefixtures("replay_check")
async def test_a_permanent_agent_error_fails_the_ticket_with_a_reason_a_person_can_act_on(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    auth = ApplicationError(
        "the API key was rejected", type="AuthenticationError", non_retryable=True
    )
    agents, services = FakeAgents(classify_failures=[auth]), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        view = await status(handle)

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "TicketFailed"
    assert agents.classify_attempts == 1  # non-retryable: no second attempt
    assert view.state is TicketState.FAILED
    assert view.failure == "classify_ticket failed: AuthenticationError: the API key was rejected"
    assert view.transitions[-1].to_state is TicketState.FAILED


@pytest.mark.usefixtures("replay_check")
async def test_a_transient_agent_error_is_retried_and_the_ticket_completes(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    blips = [ApplicationError("503 from provider", type="ProviderUnavailable") for _ in range(2)]
    agents, services = FakeAgents(classify_failures=blips), FakeTicketServices()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services) as handle:
        result: TicketView = await handle.result()

    assert agents.classify_attempts == 3
    assert result.state is TicketState.COMPLETED
    assert result.usage["classifier"].calls == 1  # only the answer that counted is billed


@pytest.mark.usefixtures("replay_check")
async def test_the_next_route_in_an_agents_chain_answers_when_the_first_fails_for_good(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    chain = [
        AgentRoute(provider="broken", model="big-model"),
        AgentRoute(provider="backup", model="small-model"),
    ]
    config = PipelineConfig(routes={AgentRole.CLASSIFIER: chain})
    dead = ApplicationError("model not found", type="NotFoundError", non_retryable=True)
    broken, backup = FakeAgents(classify_failures=[dead]), FakeAgents()
    services = FakeTicketServices(config=config)
    async with (
        fake_pipeline(ts_env.client, task_queue, backup.activities() + services.activities()),
        running([Worker(ts_env.client, task_queue="llm-broken", activities=[broken.classify])]),
        running([Worker(ts_env.client, task_queue="llm-backup", activities=[backup.classify])]),
    ):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        result: TicketView = await handle.result()

    assert broken.classify_attempts == 1 and backup.classify_attempts == 1
    classified = next(t for t in result.transitions if t.to_state is TicketState.CLASSIFIED)
    assert classified.model == "small-model"
    assert result.usage["classifier"].models == ["small-model"]
    assert result.state is TicketState.COMPLETED


async def test_an_illegal_transition_fails_the_workflow_instead_of_retrying_forever(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with running(
        [Worker(ts_env.client, task_queue=task_queue, workflows=[IllegalMoveWorkflow])]
    ):
        with pytest.raises(WorkflowFailureError) as failed:
            await ts_env.client.execute_workflow(
                IllegalMoveWorkflow.run, id=f"illegal-{task_queue}", task_queue=task_queue
            )
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "IllegalTransition" and cause.non_retryable
    assert "NEW -> COMPLETED" in cause.message


@pytest.mark.usefixtures("replay_check")
async def test_one_ticket_id_can_never_start_a_second_workflow(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(), FakeTicketServices()
    ticket = make_ticket()
    async with ticket_on_fakes(ts_env.client, task_queue, agents, services, ticket) as first:
        await first.result()
        with pytest.raises(WorkflowAlreadyStartedError):
            await ts_env.client.start_workflow(
                names.TICKET_WORKFLOW,
                {"ticket": ticket.model_dump()},
                id=names.ticket_workflow_id(ticket.ticket_id),
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
    assert len(services.deliveries) == 1
