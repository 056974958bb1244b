"""A ticket bills every token the provider billed: the ticket's usage equals the sum of what the
fake server was asked and answered, whatever failed along the way. The real openai and anthropic
SDKs against the fake server, the real workers and the time-skipping server."""

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.pipeline_config import BudgetConfig
from shared.provider_config import default_prices
from shared.review import ReviewAction, ReviewDecision
from shared.swarm import SwarmItem, SwarmResult, SwarmSettings, SwarmState
from shared.view import TicketView
from tests.support.fake_llm import FakeLLMServer, Recorded, Reply, good_answers
from tests.support.llm_pipeline import MODELS, llm_pipeline, llm_setup
from tests.support.temporal import wait_for_state
from tests.support.tickets import make_ticket, start_ticket

pytestmark = pytest.mark.usefixtures("replay_check")

INVALID_DRAFT = '{"text": ""}'


def billed_cost(fake: FakeLLMServer) -> float:
    """What the answered requests cost at list price: plain input, cache reads and cache writes
    (Anthropic) each at their own rate, and output."""
    total = 0.0
    prices = default_prices()
    for call in fake.calls():
        reply = call.reply
        if reply is None or not reply.billed_tokens:
            continue
        price = prices[call.body["model"]]
        writes = reply.cache_write_tokens if call.api == "anthropic" else 0
        plain = reply.input_tokens - reply.cached_tokens - writes
        total += (
            plain * price.input
            + reply.cached_tokens * (price.cached_input or price.input)
            + writes * (price.cache_write or 0.0)
            + reply.output_tokens * price.output
        ) / 1e6
    return total


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_repair_call_that_fails_in_transit_still_bills_the_first_call_after_the_retry(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, kind: str
) -> None:
    drafts: list[Recorded] = []

    def answers(request: Recorded) -> Reply:
        if request.output_name != "Draft":
            return good_answers(request)
        drafts.append(request)
        if len(drafts) == 1:  # invalid: a repair round follows ...
            return Reply(text=INVALID_DRAFT, input_tokens=700, output_tokens=9)
        if len(drafts) == 2:  # ... and its connection drops: the attempt fails, retryable
            return Reply(disconnect=True)
        return good_answers(request)  # the retry answers

    with FakeLLMServer() as fake:
        fake.responder = answers
        async with llm_pipeline(ts_env.client, task_queue, tmp_path, llm_setup(fake, (kind,))):
            handle = await start_ticket(ts_env.client, task_queue, make_ticket())
            view: TicketView = await handle.result()

    assert view.state is TicketState.COMPLETED
    assert len(drafts) == 3
    resolver = view.usage["resolver"]
    assert resolver.calls == 1 and resolver.requests == 2  # two answered requests, one call
    assert resolver.input_tokens == 700 + 100
    assert view.total_tokens == fake.billed_tokens()
    assert view.total_cost_usd == pytest.approx(billed_cost(fake), rel=1e-6)
    assert MODELS[kind] in resolver.models


async def test_a_swarm_item_that_falls_back_bills_every_route_it_tried(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    def answers(request: Recorded) -> Reply:
        if request.api == "openai" and "FALLS-BACK" in request.text:
            return Reply(text="not json", input_tokens=400, output_tokens=7)  # twice: invalid
        return good_answers(request)

    items = [SwarmItem(item_id=f"R{i}", text=f"Review {i}: works well.") for i in range(4)]
    items[1] = SwarmItem(item_id="R1", text="FALLS-BACK review")
    with FakeLLMServer() as fake:
        fake.responder = answers
        setup = llm_setup(fake, ("openai", "anthropic"))
        async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
            result = await ts_env.client.execute_workflow(
                names.SWARM_WORKFLOW,
                args=[items, SwarmState(settings=SwarmSettings(concurrency=2))],
                id=f"swarm-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
                result_type=SwarmResult,
            )

    assert (result.succeeded, result.failed) == (4, 0)
    fell_back = next(r for r in result.outputs if r.item_id == "R1")
    assert fell_back.usage is not None and fell_back.usage.model == MODELS["anthropic"]
    assert fell_back.usage.requests == 3  # two on the first route, one on the second
    assert fell_back.usage.input_tokens == 2 * 400 + 100
    assert result.tokens == fake.billed_tokens()
    assert result.cost_usd == pytest.approx(billed_cost(fake), rel=1e-6)


def subtasks(*ids: str) -> dict[str, Any]:
    return {
        "subtasks": [
            {"id": i, "worker": "researcher", "instruction": f"Look into {i}.", "depends_on": []}
            for i in ids
        ],
        "rationale": "independent look-ups",
    }


def complex_ticket_answers(plan: dict[str, Any]) -> Callable[[Recorded], Reply]:
    """Triage marks the ticket complex; the planner answers ``plan``; workers and synthesizer
    answer validly; the rest as usual."""

    def answers(request: Recorded) -> Reply:
        name = request.output_name
        if name == "TriageResult":
            return Reply(output={"priority": "Medium", "rationale": "two questions", "cues": [],
                                 "complex": True})  # fmt: skip
        if name == "Plan":
            return Reply(output=plan)
        if name == "WorkResult":
            return Reply(output={"output": "Refunds take 5 days.", "sources": ["KB-201"]})
        if name == "Synthesis":
            return Reply(output={"answer": "Refunds take 5 days.", "gaps": [],
                                 "sources": ["KB-201"]})  # fmt: skip
        return good_answers(request)

    return answers


async def test_a_failed_orchestrator_run_bills_its_ticket_for_every_call_it_made(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    invalid = {"subtasks": [{"id": "a", "worker": "astrologer", "instruction": "Read stars.",
                             "depends_on": []}], "rationale": "?"}  # fmt: skip
    with FakeLLMServer() as fake:
        fake.responder = complex_ticket_answers(invalid)
        async with llm_pipeline(ts_env.client, task_queue, tmp_path, llm_setup(fake)):
            handle = await start_ticket(ts_env.client, task_queue, make_ticket())
            view: TicketView = await handle.result()

    assert view.state is TicketState.COMPLETED
    assert view.fallbacks and "invalid twice" in view.fallbacks[0].error
    assert view.usage["planner"].calls == 2  # both plans, though the run failed
    assert view.usage["resolver"].calls == 1  # the single resolver drafted instead
    assert view.total_tokens == fake.billed_tokens()
    assert view.total_cost_usd == pytest.approx(billed_cost(fake), rel=1e-6)


async def test_an_orchestrated_draft_stops_at_the_tickets_budget_and_a_person_takes_over(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # Every call is 120 tokens. Classifier and triage spend 240; the run gets the other 410:
    # the planner (120), then sub-tasks a and b (120 + 2 x 120 = 360 <= 410), but not c
    # (120 + 3 x 120 = 480 > 410), and no synthesis.
    budget = BudgetConfig(max_tokens=650)
    with FakeLLMServer() as fake:
        fake.responder = complex_ticket_answers(subtasks("a", "b", "c"))
        setup = llm_setup(fake, budget=budget)
        async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
            handle = await start_ticket(ts_env.client, task_queue, make_ticket())
            view = await handed_to_a_person(handle)

    asked = [c.output_name for c in fake.calls()]
    assert asked[:3] == ["Classification", "TriageResult", "Plan"]
    assert sorted(asked[3:]) == ["WorkResult", "WorkResult"]  # no third sub-task, no synthesis
    assert view.total_tokens == fake.billed_tokens() == 600
    assert view.usage["worker"].calls == 2 and "resolver" not in view.usage
    assert view.review_reasons[-1].startswith("the ticket's token budget: 600 spent")
    # What the stopped run paid for is not lost: the reviewer is told where it is.
    assert view.review_reasons[-1].endswith(
        f"; 2 sub-task(s) completed before it stopped: their findings are in the failure of "
        f"workflow {handle.id}/resolution"
    )
    assert view.draft is None


async def handed_to_a_person(handle: Any) -> TicketView:
    """The ticket's view once it waits for a person; then rejected, so nothing is left waiting on
    the shared test server (its clock would wait for it)."""
    view: TicketView = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    await handle.execute_update(
        names.SUBMIT_REVIEW_UPDATE, ReviewDecision(action=ReviewAction.REJECT, reason="test over")
    )
    await handle.result()
    return view


def first_route_invalid(
    plan: dict[str, Any], answering: str | None = None
) -> Callable[[Recorded], Reply]:
    """A complex ticket's answers (``plan``), but a worker's call on the first route (OpenAI)
    answers invalid output (400 + 7 tokens, billed), and so does its repair round; but for
    sub-task ``answering``'s."""
    plain = complex_ticket_answers(plan)
    spared = f"Your sub-task ({answering})" if answering else None

    def answers(request: Recorded) -> Reply:
        if spared and spared in json.dumps(request.body):
            return plain(request)
        if request.output_name == "WorkResult" and request.api == "openai":
            return Reply(text="not json", input_tokens=400, output_tokens=7)
        return plain(request)

    return answers


async def test_sub_tasks_make_no_fallback_call_past_the_share_of_the_budget_they_hold(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # Every good call is 120 tokens. The run gets 960: the planner (120) and sub-task w (120,
    # which answers: no second sub-task starts before a worker call sized the shares), then a
    # and b (both needing w) start together, each holding half of what is free (360). Each
    # one's first route answers invalid output twice (814 tokens, billed): a fallback would
    # pass its share, so neither makes one. Before, both fell back and the ticket spent past
    # its budget.
    budget = BudgetConfig(max_tokens=240 + 960)
    first = subtasks("w", "a", "b")
    for needs_w in first["subtasks"][1:]:
        needs_w["depends_on"] = ["w"]
    with FakeLLMServer() as fake:
        fake.responder = first_route_invalid(first, answering="w")
        setup = llm_setup(fake, ("openai", "anthropic"), budget=budget)
        async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
            handle = await start_ticket(ts_env.client, task_queue, make_ticket())
            view = await handed_to_a_person(handle)

    work = [c for c in fake.calls() if c.output_name == "WorkResult"]
    invalid = [c for c in work if c.reply is not None and c.reply.text == "not json"]
    assert len(work) == 5 and {c.api for c in work} == {"openai"}  # w, a repair round each
    assert len(invalid) == 4
    assert view.total_tokens == fake.billed_tokens()
    # No synthesis fits after them: a person takes the ticket, told where w's findings are.
    assert view.review_reasons[-1].startswith("the ticket's token budget")
    assert "1 sub-task(s) completed before it stopped" in view.review_reasons[-1]


async def test_a_sub_task_alone_may_spend_what_is_free_on_its_fallback(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # The same invalid first route, one sub-task and room in the budget: its share is all that
    # is free (not a few calls' worth of the planner's size), so it falls back and completes.
    budget = BudgetConfig(max_tokens=10_000)
    with FakeLLMServer() as fake:
        fake.responder = first_route_invalid(subtasks("a"))
        setup = llm_setup(fake, ("openai", "anthropic"), budget=budget)
        async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
            handle = await start_ticket(ts_env.client, task_queue, make_ticket())
            view: TicketView = await handle.result()

    work = [c.api for c in fake.calls() if c.output_name == "WorkResult"]
    assert work == ["openai", "openai", "anthropic"]
    assert view.state is TicketState.COMPLETED and view.draft is not None
    assert view.draft.author == "orchestrator"
    assert view.total_tokens == fake.billed_tokens()


async def test_anthropic_cache_writes_are_billed_to_the_ticket_at_the_cache_write_price(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    def answers(request: Recorded) -> Reply:
        reply = good_answers(request)
        # The long system prompt is written to the cache once, then read from it.
        first = len(fake.calls()) == 1
        reply.input_tokens = 2_000
        reply.cache_write_tokens = 1_500 if first else 0
        reply.cached_tokens = 0 if first else 1_500
        return reply

    with FakeLLMServer() as fake:
        fake.responder = answers
        setup = llm_setup(fake, ("anthropic",))
        async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
            handle = await start_ticket(ts_env.client, task_queue, make_ticket())
            view: TicketView = await handle.result()

    assert view.state is TicketState.COMPLETED
    assert view.usage["classifier"].cache_write_tokens == 1_500
    assert sum(u.cached_tokens for u in view.usage.values()) == 3 * 1_500
    assert view.total_tokens == fake.billed_tokens()
    assert view.total_cost_usd == pytest.approx(billed_cost(fake), rel=1e-6)
