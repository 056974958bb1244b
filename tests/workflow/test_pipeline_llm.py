"""The pipeline on real provider clients (openai, anthropic SDKs) against a fake LLM server."""

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.retry_budget import OVERLOADED_BEFORE_HANDING_ON
from policy.transitions import TicketState
from shared.agents import Priority
from shared.pipeline_config import AgentTimeouts, BudgetConfig
from shared.provider_config import cost_usd, default_prices
from shared.view import TicketView
from tests.support.fake_llm import FakeLLMServer, Reply, good_answers
from tests.support.llm_pipeline import ANTHROPIC_KEY, MODELS, OPENAI_KEY, llm_pipeline, llm_setup
from tests.support.temporal import status, wait_for_state
from tests.support.tickets import make_ticket, start_ticket
from workflows import options

pytestmark = pytest.mark.usefixtures("replay_check")

OUTPUTS = ["Classification", "TriageResult", "Draft", "Validation"]


@pytest.fixture
def fake() -> FakeLLMServer:
    with FakeLLMServer() as server:
        server.responder = good_answers
        yield server


def history_text(history: object) -> str:
    return history.to_json()  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_the_pipeline_runs_end_to_end_on_each_provider(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer, kind: str
) -> None:
    setup = llm_setup(fake, (kind,))
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        result: TicketView = await handle.result()

    assert result.state is TicketState.COMPLETED
    assert [r.output_name for r in fake.calls()] == OUTPUTS
    assert {r.api for r in fake.calls()} == {kind}
    per_call = cost_usd(default_prices()[MODELS[kind]], 100, 20, 0)
    assert result.total_cost_usd == pytest.approx(4 * per_call)
    assert result.total_tokens == 4 * 120
    assert all(u.models == [MODELS[kind]] for u in result.usage.values())
    classified = next(t for t in result.transitions if t.to_state is TicketState.CLASSIFIED)
    assert classified.model == MODELS[kind]
    assert result.draft is not None and result.draft.author == MODELS[kind]


async def test_a_rate_limited_call_waits_and_is_retried(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    fake.push(Reply(status=429, error_type="rate_limit_error", headers={"retry-after": "1"}))
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, llm_setup(fake)):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        result: TicketView = await handle.result()
    assert [r.output_name for r in fake.calls()] == ["Classification", *OUTPUTS]
    assert result.state is TicketState.COMPLETED
    assert result.usage["classifier"].calls == 1 and result.fallbacks == []


# How many attempts an agent call had before rate-limit retries were bounded by time.
OLD_ATTEMPT_COUNT = 5


def rate_limited(wait_ms: int = 50) -> Reply:
    return Reply(
        status=429, error_type="rate_limit_error", headers={"retry-after-ms": str(wait_ms)}
    )


async def test_a_long_run_of_rate_limits_delays_a_ticket_but_never_fails_it(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    # More 429s in a row than the old policy had attempts: the call keeps waiting, bounded by
    # the ticket's SLA, not by a count; no fallback is taken (there is none to take here).
    refusals = OLD_ATTEMPT_COUNT + 3
    fake.push(*(rate_limited() for _ in range(refusals)))
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, llm_setup(fake)):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        result: TicketView = await handle.result()
        history = await handle.fetch_history()

    assert result.state is TicketState.COMPLETED
    assert [r.output_name for r in fake.calls()] == ["Classification"] * refusals + OUTPUTS
    assert [r.reply.status for r in fake.calls() if r.reply][:refusals] == [429] * refusals
    assert result.usage["classifier"].calls == 1 and result.fallbacks == []
    # Each call may retry until the ticket's SLA deadline: before triage that of a Medium
    # ticket (24 h from the start), after it that of the priority triage gave (Medium here).
    bounds = [
        e.activity_task_scheduled_event_attributes.schedule_to_close_timeout.ToTimedelta()
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert len(bounds) == 4
    assert all(timedelta(hours=23) < b <= timedelta(hours=24) for b in bounds), bounds


def scheduled_bounds(history: object, activity: str) -> list[timedelta]:
    """Each scheduled ``activity``'s schedule-to-close timeout: the retry window it was given."""
    return [
        e.activity_task_scheduled_event_attributes.schedule_to_close_timeout.ToTimedelta()
        for e in history.events  # type: ignore[attr-defined]
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    ]


async def test_a_fallback_after_a_route_waited_out_the_sla_gets_what_is_left_not_a_new_window(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    # The first route answers nothing but 429s (each asking for ten minutes), so its call
    # retries until the ticket's one-hour SLA is spent. The fallback then gets the least window
    # (AGENT_MIN_RETRY_WINDOW), not the hour again: before, every route of the chain got the
    # window computed when the chain began, so a ticket could wait twice its SLA.
    def refuse_openai(request):  # type: ignore[no-untyped-def]
        if request.api == "openai":
            return rate_limited(wait_ms=600_000)
        return good_answers(request)

    fake.responder = refuse_openai
    hour = {priority: 1.0 for priority in Priority}
    setup = llm_setup(fake, ("openai", "anthropic"), sla_hours=hour)
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        await handle.result()
        history = await handle.fetch_history()

    first, fallback = scheduled_bounds(history, "classify_ticket")
    assert timedelta(minutes=59) < first <= timedelta(hours=1), first
    assert fallback == options.AGENT_MIN_RETRY_WINDOW, fallback
    assert {c.api for c in fake.calls("Classification")} == {"openai", "anthropic"}


async def test_a_provider_failing_with_server_errors_hands_the_call_on_after_five_attempts(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    # A provider that is unwell, not busy: the fallback route takes the call after five
    # attempts, as before rate limits were bounded by time.
    broken = Reply(status=500, error_type="server_error", headers={"retry-after-ms": "50"})
    fake.push(*(broken for _ in range(OLD_ATTEMPT_COUNT)))
    setup = llm_setup(fake, ("openai", "anthropic"))
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        result: TicketView = await handle.result()

    apis = [c.api for c in fake.calls("Classification")]
    assert apis == ["openai"] * OLD_ATTEMPT_COUNT + ["anthropic"]
    assert len(result.fallbacks) == 1 and "giving up on this route" in result.fallbacks[0].error
    assert result.state is TicketState.COMPLETED


async def test_an_overloaded_provider_hands_the_call_to_the_fallback_after_a_few_answers(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    # Busy, not unwell: a call with nowhere else to go waits an overload out, but one with a
    # healthy fallback waited until the ticket's SLA ran out (without the adaptive breaker).
    busy = Reply(status=529, error_type="overloaded_error", headers={"retry-after-ms": "50"})
    fake.push(*(busy for _ in range(OVERLOADED_BEFORE_HANDING_ON)))
    setup = llm_setup(fake, ("openai", "anthropic"))
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        result: TicketView = await handle.result()

    apis = [c.api for c in fake.calls("Classification")]
    assert apis == ["openai"] * OVERLOADED_BEFORE_HANDING_ON + ["anthropic"]
    assert len(result.fallbacks) == 1, result.fallbacks
    assert "overloaded answers to this call: handing it to the next route" in (
        result.fallbacks[0].error
    )
    assert result.state is TicketState.COMPLETED


async def test_a_server_error_is_retried_and_the_ticket_completes(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    fake.push(Reply(status=500, error_type="server_error", error_message="boom"))
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, llm_setup(fake)):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        result: TicketView = await handle.result()
    assert len(fake.calls("Classification")) == 2
    assert result.state is TicketState.COMPLETED


async def test_a_rejected_key_falls_back_to_the_other_provider_and_never_reaches_the_history(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    fake.push(
        Reply(
            status=401,
            error_type="invalid_request_error",
            error_message=f"Incorrect API key provided: {OPENAI_KEY}",
        )
    )
    setup = llm_setup(fake, ("openai", "anthropic"))
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        result: TicketView = await handle.result()
        history = history_text(await handle.fetch_history())

    classified = next(t for t in result.transitions if t.to_state is TicketState.CLASSIFIED)
    assert classified.model == MODELS["anthropic"]
    assert [c.api for c in fake.calls("Classification")] == ["openai", "anthropic"]
    fallback = result.fallbacks[0]
    assert fallback.failed.endswith(MODELS["openai"]) and fallback.next.endswith(
        MODELS["anthropic"]
    )
    assert "ProviderAuthenticationError" in fallback.error
    assert OPENAI_KEY not in history and ANTHROPIC_KEY not in history
    assert "[redacted]" in fallback.error
    assert result.state is TicketState.COMPLETED


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [
        (
            Reply(status=401, error_type="authentication_error", error_message="bad key"),
            "ProviderAuthenticationError",
        ),
        (
            Reply(
                status=400,
                error_type="invalid_request_error",
                error_code="context_length_exceeded",
                error_message="This model's maximum context length is 128000 tokens",
            ),
            "ContextLengthExceeded",
        ),
    ],
    ids=["auth", "context-length"],
)
async def test_a_permanent_provider_error_without_a_fallback_fails_the_ticket_at_once(
    ts_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    fake: FakeLLMServer,
    reply: Reply,
    error_type: str,
) -> None:
    fake.push(reply)
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, llm_setup(fake)):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        view = await status(handle)
        history = history_text(await handle.fetch_history())
    assert len(fake.calls()) == 1  # non-retryable: no second attempt
    assert view.state is TicketState.FAILED
    assert view.failure is not None and view.failure.startswith(
        f"classify_ticket failed: {error_type}"
    )
    assert OPENAI_KEY not in history


async def test_output_that_stays_invalid_hands_the_ticket_to_a_person_with_the_cost_counted(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    def answers(request):  # type: ignore[no-untyped-def]
        if request.output_name == "Draft":
            return Reply(text='{"text": ""}', input_tokens=500, output_tokens=5)
        return good_answers(request)

    fake.responder = answers
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, llm_setup(fake)):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)

    assert len(fake.calls("Draft")) == 2  # the answer and one repair round, no retries
    assert "stayed invalid" in view.review_reasons[0] and "text" in view.review_reasons[0]
    assert view.usage["resolver"].input_tokens == 1000 and view.usage["resolver"].requests == 2
    assert view.draft is None


async def test_a_stalled_response_is_caught_within_the_heartbeat_timeout_and_retried(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    # On the dev server: the time-skipping one records no attempt's last failure.
    fake.push(Reply(output={"category": "Account"}, stall=True))
    setup = llm_setup(
        fake,
        provider_overrides={"timeout_seconds": 25},
        # 3 s: short beside the 25 s client timeout, long enough that a loaded machine's slow
        # heartbeat is not taken for a stall.
        agent_timeouts=AgentTimeouts(start_to_close_seconds=30, heartbeat_seconds=3),
    )
    async with llm_pipeline(dev_env.client, task_queue, tmp_path, setup):
        handle = await start_ticket(dev_env.client, task_queue, make_ticket())
        result: TicketView = await handle.result()

    assert len(fake.calls("Classification")) == 2
    assert result.state is TicketState.COMPLETED
    # Caught within the heartbeat timeout, not by the 25 s client or the 30 s attempt limit:
    # the second attempt's start records why the first ended. Since 2026-12-07 by the
    # provider's own stall limit (three quarters of the heartbeat timeout), as its timeout with
    # what the attempt was billed; before, by Temporal's heartbeat timeout, which carried none.
    retried = [
        e.activity_task_started_event_attributes
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.attempt == 2
    ]
    assert len(retried) == 1, retried
    why = retried[0].last_failure.application_failure_info.type
    assert why == "ProviderTimeout", retried[0].last_failure


async def test_a_ticket_that_would_pass_its_cost_budget_goes_to_a_person(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    per_call = cost_usd(default_prices()[MODELS["openai"]], 100, 20, 0)
    setup = llm_setup(fake, budget=BudgetConfig(max_cost_usd=per_call * 2.5))
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket())
        view = await wait_for_state(handle, TicketState.AWAITING_REVIEW)
    assert [r.output_name for r in fake.calls()] == ["Classification", "TriageResult"]
    assert view.review_reasons[0].startswith("the ticket's cost budget:")


async def test_greetings_signatures_and_quoted_replies_never_reach_the_model(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    body = (
        "Hi team,\n\nI forgot my password and the reset mail never came.\n\nThanks,\nMaria\n"
        "--\nMaria Lopez | ACME | +1 555 0100\n\n"
        "On Mon, Mar 3, 2025 at 10:00 AM Support <support@example.com> wrote:\n"
        "> Please send us the QUOTEDMARKER details.\n"
    )
    async with llm_pipeline(ts_env.client, task_queue, tmp_path, llm_setup(fake)):
        handle = await start_ticket(ts_env.client, task_queue, make_ticket(body=body))
        result: TicketView = await handle.result()
    sent = " ".join(r.text for r in fake.calls())
    assert "forgot my password" in sent
    assert "QUOTEDMARKER" not in sent and "+1 555 0100" not in sent
    assert result.trimmed_tokens > 0
    assert all(u.trimmed_tokens > 0 for u in result.usage.values())


async def test_a_providers_words_stay_on_the_ticket_and_out_of_the_workers_log(
    ts_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    fake: FakeLLMServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A provider's error can quote the request (the ticket): the fallback's warning logged it
    # whole. The log says what failed and how; the ticket's (encrypted) view keeps the words.
    quoted = "Ana Lima's refund for order 88123"
    fake.push(
        Reply(
            status=400,
            error_type="invalid_request_error",
            error_message=f"Could not process the message: {quoted}",
        )
    )
    setup = llm_setup(fake, ("openai", "anthropic"))
    with caplog.at_level("INFO"):
        async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
            handle = await start_ticket(ts_env.client, task_queue, make_ticket())
            result: TicketView = await handle.result()

    assert result.state is TicketState.COMPLETED
    assert quoted in result.fallbacks[0].error
    # Our workflows' log lines (the SDK's own activity-failure line still quotes the error:
    # docs/privacy.md lists it).
    ours = [r.getMessage() for r in caplog.records if r.name == "temporalio.workflow"]
    assert any("falling back" in line for line in ours), ours  # the warning is still there
    assert not [line for line in ours if "88123" in line]
