"""A batch's tickets whose ids ended runs hold: started again as ``submit`` starts them, the
refused starts of a group together (workflows/batch.py RESTARTS_AS_SUBMITTED, GROUPED_RESTARTS).
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities import ticket_activities
from activities.ticket_activities import check_tickets, restart_tickets
from shared import names, operations
from shared import search_attributes as sa
from shared.batch import ID_CONFLICT, RESTART_FAILED, BatchSettings, RestartsDone, TicketRestarts
from shared.operations import SubmitOutcome
from shared.tickets import Ticket
from tests.support.batches import all_closed, fairness_keys, start_batch, tickets
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import wait_until
from tests.support.tickets import start_ticket
from tests.support.workers import fake_pipeline


async def activities_scheduled(handle: object) -> list[str]:
    history = await handle.fetch_history()  # type: ignore[attr-defined]
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def ended(client: object, queue: str, batch: list[Ticket]) -> None:
    """Each ticket started where no worker polls, then terminated: its id is held by an ended
    run without an answer."""
    for ticket in batch:
        handle = await start_ticket(client, queue, ticket)  # type: ignore[arg-type]
        await handle.terminate("ended before the batch")


@pytest.mark.usefixtures("replay_check")
async def test_a_ticket_ended_without_an_answer_is_started_again_naming_the_run_it_replaces(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Before, the batch's child start took over the ended run's id knowing nothing of it: an
    # answer that run had sent went out again, and what it spent dropped out of the totals.
    gate = asyncio.Event()
    agents, services = FakeAgents(resolver_gate=gate), FakeTicketServices()
    batch = tickets(3)
    activities = agents.activities() + services.activities()
    async with fake_pipeline(dev_env.client, task_queue, activities, services.agent_queue):
        first = await start_ticket(dev_env.client, task_queue, batch[0])
        await wait_until(lambda: len(agents.calls.get("draft", [])) == 1, what="its draft")
        await first.terminate("an operator stopped it")
        ended_run = (await first.describe()).run_id
        by_hand = await start_ticket(dev_env.client, task_queue, batch[2])
        gate.set()
        await by_hand.result()
        keys = {t.ticket_id: f"key-{t.ticket_id}" for t in batch}  # as the batch's client made
        handle = await start_batch(
            dev_env.client, task_queue, batch, BatchSettings(window=3), fairness_keys=keys
        )
        result = await handle.result()
        await all_closed(dev_env.client, batch)
        again = dev_env.client.get_workflow_handle(names.ticket_workflow_id(batch[0].ticket_id))
        memo = await (await again.describe()).memo()
        given = await fairness_keys(dev_env.client, batch[:2])

    # The terminated one started again, the new one started, the completed one left alone.
    assert (result.started, result.already_known) == (2, 1)
    assert result.settled == {"COMPLETED": 2}
    assert memo[sa.MEMO_REPLACES_CHAINS] == [ended_run]
    # The restarted ticket keeps the key the batch's client made, as a child start carries it.
    assert given == {t.ticket_id: keys[t.ticket_id] for t in batch[:2]}


async def test_a_restart_retried_after_its_answer_was_lost_finds_its_own_run(
    dev_env: WorkflowEnvironment,
) -> None:
    # The activity's retry must not start the ticket a third time (nor count it as known).
    client, ticket = dev_env.client, tickets(1)[0]
    nobody = f"nobody-{uuid.uuid4().hex[:6]}"  # no worker: each run waits where it started
    ended = await start_ticket(client, nobody, ticket)
    await ended.terminate("ended before the batch")

    handle = client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))
    first = await operations.start_ticket(client, ticket, nobody, started_by="run-1/7")
    restarted = (await handle.describe()).run_id
    retried = await operations.start_ticket(client, ticket, nobody, started_by="run-1/7")
    other = await operations.start_ticket(client, ticket, nobody, started_by="run-2/7")
    current = (await handle.describe()).run_id
    await handle.terminate()

    assert (first.started, retried.started, other.started) == (True, True, False)
    assert restarted != ended.result_run_id and current == restarted  # one restart, no other


class RacingClient:
    """A real client whose restart (the second start, after the ended run was found) is beaten
    by ``rival``: another attempt of the same activity, still running beside its retry."""

    def __init__(self, client: Client, rival: Callable[[], Awaitable[object]]) -> None:
        self._client = client
        self._rival: Callable[[], Awaitable[object]] | None = rival

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        restart = kwargs.get("id_reuse_policy") == WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
        if restart and self._rival is not None:
            rival, self._rival = self._rival, None
            await rival()
        return await self._client.start_workflow(*args, **kwargs)


async def test_a_restart_beaten_by_another_attempt_of_its_activity_counts_that_start(
    dev_env: WorkflowEnvironment,
) -> None:
    # The loser said "not started" for a run its own activity had started: the batch counted the
    # ticket as already known and stopped tracking it.
    client, ticket = dev_env.client, tickets(1)[0]
    nobody = f"nobody-{uuid.uuid4().hex[:6]}"
    ended_run = await start_ticket(client, nobody, ticket)
    await ended_run.terminate("ended before the batch")

    def rival() -> Awaitable[object]:
        return operations.start_ticket(client, ticket, nobody, fairness=None, started_by="r/7")

    racing = RacingClient(client, rival)
    beaten = await operations.start_ticket(
        racing,  # type: ignore[arg-type]
        ticket,
        nobody,
        fairness=None,
        started_by="r/7",
    )
    handle = client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))
    current = await handle.describe()
    memo = await current.memo()
    await handle.terminate()

    assert racing._rival is None and beaten.started  # the rival went first; its start counts
    assert current.run_id != ended_run.result_run_id and memo[sa.MEMO_STARTED_BY] == "r/7"


@pytest.mark.usefixtures("replay_check")
async def test_a_resubmitted_batch_restarts_its_refused_tickets_in_one_activity(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Each refused start ran an activity of its own: a batch resubmitted after its tickets
    # completed cost the server a task and two events per ticket.
    client = dev_env.client
    agents, services = FakeAgents(), FakeTicketServices()
    batch = tickets(5)
    activities = agents.activities() + services.activities()
    await ended(client, f"nobody-{uuid.uuid4().hex[:6]}", batch[:3])
    async with fake_pipeline(client, task_queue, activities, services.agent_queue):
        done_before = [await start_ticket(client, task_queue, t) for t in batch[3:]]
        await asyncio.gather(*(h.result() for h in done_before))
        handle = await start_batch(client, task_queue, batch, BatchSettings(window=5))
        result = await handle.result()
        await all_closed(client, batch)

    assert (result.started, result.already_known) == (3, 2)
    assert result.settled == {"COMPLETED": 3}
    assert await activities_scheduled(handle) == [names.RESTART_TICKETS]


@activity.defn(name=names.RESTART_TICKETS)
async def fake_restart_tickets_refused(restarts: TicketRestarts) -> RestartsDone:
    raise ApplicationError("fake: the activity fails for good", non_retryable=True)


@activity.defn(name=names.RESTART_TICKETS)
async def fake_restart_tickets_first_failed(restarts: TicketRestarts) -> RestartsDone:
    return RestartsDone(failed={restarts.tickets[0].ticket_id: "RPCError UNAVAILABLE"})


@pytest.mark.usefixtures("replay_check")
@pytest.mark.parametrize(
    ("fake", "settled", "known"),
    [
        # Not known which it started: left to the check, which found the ended runs that held
        # their ids. Counted as TERMINATED (an operator's decision: `batch --wait` exited 0),
        # though the batch never worked on them: not started again.
        (fake_restart_tickets_refused, {RESTART_FAILED: 2}, 0),
        (fake_restart_tickets_first_failed, {RESTART_FAILED: 1}, 1),
    ],
    ids=["activity-failed", "one-ticket-failed"],
)
async def test_tickets_not_started_again_are_counted_and_the_batch_still_ends(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    fake: object,
    settled: dict[str, int],
    known: int,
) -> None:
    client = dev_env.client
    batch = tickets(2)
    await ended(client, f"nobody-{uuid.uuid4().hex[:6]}", batch)
    settings = BatchSettings(window=2, check_after_seconds=1.0)
    async with fake_pipeline(client, task_queue, [check_tickets, fake]):
        handle = await start_batch(client, task_queue, batch, settings)
        result = await handle.result()

    assert (result.started, result.already_known, result.settled) == (0, known, settled)
    assert result.done == result.total == 2 and result.in_flight == 0


class FakeRestartTicketsRecording:
    """``restart_tickets`` as a fake that records the groups it is given and starts nothing."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []

    @activity.defn(name=names.RESTART_TICKETS)
    async def restart_tickets(self, restarts: TicketRestarts) -> RestartsDone:
        self.groups.append([t.ticket_id for t in restarts.tickets])
        return RestartsDone()


@pytest.mark.usefixtures("replay_check")
async def test_refused_starts_past_a_payload_s_worth_go_to_a_second_activity(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # One activity's input is one payload, which the server refuses over 2 MB: 60 tickets of
    # 20,000 characters (1.2 MB) are split in two.
    client = dev_env.client
    batch = [
        t.model_copy(update={"body": f"{i:03d} " + "x" * 19_996}) for i, t in enumerate(tickets(60))
    ]
    await ended(client, f"nobody-{uuid.uuid4().hex[:6]}", batch)
    fake = FakeRestartTicketsRecording()
    async with fake_pipeline(client, task_queue, [fake.restart_tickets]):
        handle = await start_batch(client, task_queue, batch, BatchSettings(window=60))
        result = await handle.result()

    assert (result.started, result.already_known) == (0, 60)
    assert await activities_scheduled(handle) == [names.RESTART_TICKETS] * 2
    assert sorted(i for g in fake.groups for i in g) == sorted(t.ticket_id for t in batch)
    assert all(
        sum(len(t.body) for t in batch if t.ticket_id in g) < 1024 * 1024 for g in fake.groups
    )


def fake_start_ticket(failures: dict[str, int], calls: list[tuple[str, str | None, str | None]]):
    """shared/operations.start_ticket as a fake: a ticket in ``failures`` raises the server's
    UNAVAILABLE that many times (a negative count: hangs); then it starts."""

    async def start(client: object, ticket: Ticket, **options: object) -> SubmitOutcome:
        calls.append((ticket.ticket_id, options.get("fairness"), options.get("started_by")))  # type: ignore[arg-type]
        left = failures.get(ticket.ticket_id, 0)
        if left < 0:
            await asyncio.Event().wait()
        if left > 0:
            failures[ticket.ticket_id] = left - 1
            raise RPCError("fake: unavailable", RPCStatusCode.UNAVAILABLE, b"")
        workflow_id = names.ticket_workflow_id(ticket.ticket_id)
        return SubmitOutcome(ticket_id=ticket.ticket_id, workflow_id=workflow_id, started=True)

    return start


@pytest.mark.parametrize(
    ("failures", "failed"),
    [(2, None), (3, "RPCError UNAVAILABLE"), (-1, "TimeoutError")],
    ids=["failed-twice", "failed-every-try", "hung"],
)
async def test_a_ticket_failing_to_restart_is_tried_again_then_reported_and_the_others_start(
    dev_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
    failures: int,
    failed: str | None,
) -> None:
    batch = tickets(3)
    calls: list[tuple[str, str | None, str | None]] = []
    fake = fake_start_ticket({batch[1].ticket_id: failures}, calls)
    monkeypatch.setattr(ticket_activities, "start_ticket", fake)
    monkeypatch.setattr(ticket_activities, "RESTART_PAUSES", (0.0, 0.0))
    monkeypatch.setattr(ticket_activities, "RESTART_SECONDS", 0.5)
    restarts = TicketRestarts(
        tickets=batch, batch_id="b-1", task_queue="q", fairness_keys={batch[0].ticket_id: "k0"}
    )

    done = await ActivityEnvironment(client=dev_env.client).run(restart_tickets, restarts)

    ids = [t.ticket_id for t in batch]
    if failed is None:
        assert (done.started, done.failed) == (ids, {})
    else:
        assert (done.started, done.failed) == ([ids[0], ids[2]], {ids[1]: failed})
    # The failing one tried three times at most; each with its own key (none when the client
    # sent none), all under the activity's one id, which its retry finds on the runs it started.
    assert [c[0] for c in calls].count(ids[1]) == 3
    assert {c[0]: c[1] for c in calls} == {ids[0]: "k0", ids[1]: None, ids[2]: None}
    assert len({c[2] for c in calls}) == 1


@pytest.mark.parametrize("took_effect", [True, False], ids=["accepted", "never-started"])
async def test_a_last_try_that_timed_out_after_the_server_took_it_counts_as_started(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, took_effect: bool
) -> None:
    # The tries before the last find a start an earlier one made (they look the id up); the
    # last had no try after it: the ticket ran, counted RESTART_FAILED, out of the window.
    batch = tickets(2)
    calls: list[tuple[str, str | None, str | None]] = []
    monkeypatch.setattr(
        ticket_activities, "start_ticket", fake_start_ticket({batch[1].ticket_id: -1}, calls)
    )
    looked_up: list[tuple[str, str]] = []

    async def started_by_this(client: object, ticket: Ticket, started_by: str) -> bool:
        looked_up.append((ticket.ticket_id, started_by))
        return took_effect

    monkeypatch.setattr(ticket_activities, "started_by_this", started_by_this)
    monkeypatch.setattr(ticket_activities, "RESTART_PAUSES", (0.0, 0.0))
    monkeypatch.setattr(ticket_activities, "RESTART_SECONDS", 0.3)
    restarts = TicketRestarts(tickets=batch, batch_id="b-1", task_queue="q")

    done = await ActivityEnvironment(client=dev_env.client).run(restart_tickets, restarts)

    ids = [t.ticket_id for t in batch]
    assert [i for i, _ in looked_up] == [ids[1]]  # only after the last try failed
    assert looked_up[0][1] == {c[2] for c in calls}.pop()  # under the tries' own id
    if took_effect:
        assert (done.started, done.failed) == (ids, {})
    else:
        assert (done.started, done.failed) == ([ids[0]], {ids[1]: "TimeoutError"})


async def test_whether_a_run_is_one_a_restart_started_is_read_from_its_memo(
    dev_env: WorkflowEnvironment,
) -> None:
    (ticket,) = tickets(1)
    queue = f"nobody-polls-{uuid.uuid4().hex[:6]}"  # the run only has to exist
    outcome = await operations.start_ticket(
        dev_env.client, ticket, task_queue=queue, started_by="run-1/7"
    )
    try:
        assert outcome.started
        assert await operations.started_by_this(dev_env.client, ticket, "run-1/7")
        assert not await operations.started_by_this(dev_env.client, ticket, "run-1/8")
        (other,) = tickets(1)
        assert not await operations.started_by_this(dev_env.client, other, "run-1/7")
    finally:
        await dev_env.client.get_workflow_handle(outcome.workflow_id).terminate("test over")


@pytest.mark.usefixtures("replay_check")
async def test_a_ticket_whose_id_another_ticket_took_is_counted_a_conflict_and_named(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Another ticket (other words) took one of the batch's ids after the CLI's check, say through
    # the API: it was counted as already known, and nothing said this one was never worked on.
    agents, services = FakeAgents(), FakeTicketServices()
    batch = tickets(4)
    stranger = batch[1].model_copy(update={"body": "Another customer's words entirely."})
    activities = agents.activities() + services.activities()
    async with fake_pipeline(dev_env.client, task_queue, activities, services.agent_queue):
        # As `submit` or the API start it: with its content's digest in the memo.
        took = await operations.start_ticket(dev_env.client, stranger, task_queue=task_queue)
        assert took.started
        await dev_env.client.get_workflow_handle(took.workflow_id).result()
        handle = await start_batch(dev_env.client, task_queue, batch, BatchSettings(window=4))
        result = await handle.result()
        await all_closed(dev_env.client, batch)

    assert (result.started, result.already_known) == (3, 0)
    assert result.settled == {"COMPLETED": 3, ID_CONFLICT: 1}
    assert result.conflicts == [batch[1].ticket_id]
    assert result.failed == 1  # `batch --wait` does not exit as if every ticket was answered
