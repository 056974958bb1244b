"""Committed histories of released workflow versions replay against today's code.

A change to any workflow that alters its command sequence for a workflow already in flight fails
here; guard such a change with ``workflow.patched`` and record new histories
(``python -m tests.replay.record_histories``). Histories produced by the rest of the suite are
replayed by the ``replay_check`` fixture.
"""

import json
from itertools import pairwise
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from shared import names
from tests.replay.committed import FOLDER, HISTORIES, load, patches, workflow_type
from tests.support.temporal import ALL_WORKFLOWS, new_replayer
from tests.support.temporal import states_upserted as upserted_states
from workflows.batch_patches import (
    GROUPED_RESTARTS,
    RESTARTS_AS_SUBMITTED,
    UNKNOWN_FIELDS_LEFT_OUT,
)
from workflows.review_gate import PATCH_REVIEW_FINAL_DEADLINE
from workflows.swarm import KEEPS_CARRIED
from workflows.ticket_delivery import PATCH_DELIVERY_QUEUE
from workflows.ticket_patches import (
    PATCH_BUDGET_COUNTS_EARLIER_RUNS,
    PATCH_BUDGET_STOP_CLASSIFIES,
    PATCH_CANCEL_READS_LEDGER,
    PATCH_CANCEL_WAITS_FOR_SEND,
    PATCH_DELIVERING_STATE,
    PATCH_IGNORE_UNKNOWN_INPUT_FIELDS,
    PATCH_LEAN_HISTORY,
    PATCH_ORCHESTRATED_RESOLUTION,
    PATCH_STAGES_AT_REST,
)


def test_a_history_of_every_workflow_type_is_committed() -> None:
    committed = {workflow_type(path) for path in HISTORIES}
    registered = {w.__temporal_workflow_definition.name for w in ALL_WORKFLOWS}  # type: ignore[attr-defined]
    assert registered <= committed, f"no committed history for {sorted(registered - committed)}"


def test_a_swarm_that_kept_an_earlier_runs_results_is_committed() -> None:
    """Its first chunk's items were all kept: no child for it; the run's commands start chunks
    1 and 2 only, across one continue-as-new."""
    started = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for path in HISTORIES
        if path.stem.startswith("swarmworkflow-v1-swarm-kept-")
        for e in load(path).events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    assert started == ["replay-swarm-kept-rec/chunk-1", "replay-swarm-kept-rec/chunk-2"]
    # Behind its patch in every run of the chain; no run from before it asked.
    kept_runs = [p for p in HISTORIES if p.stem.startswith("swarmworkflow-v1-swarm-kept-")]
    assert all(KEEPS_CARRIED in patches(p) for p in kept_runs) and len(kept_runs) == 2
    others = [p for p in HISTORIES if p.stem.startswith("swarmworkflow-") and p not in kept_runs]
    assert others and not any(KEEPS_CARRIED in patches(p) for p in others)


def test_a_complex_ticket_drafted_by_an_orchestrator_child_is_committed() -> None:
    """The ``orchestrated-resolution`` patch path, so its deprecation is checked by replay."""
    tickets = [p for p in HISTORIES if workflow_type(p) == "TicketWorkflow"]
    assert any(PATCH_ORCHESTRATED_RESOLUTION in patches(p) for p in tickets)


def test_tickets_waiting_for_review_before_and_after_the_final_deadline_are_committed() -> None:
    """Both sides of the ``review-final-deadline`` patch replay: v1 histories waited with no
    final deadline, v2 ones have the marker (one closed unanswered, one approved before it)."""
    tickets = {p.stem: patches(p) for p in HISTORIES if workflow_type(p) == "TicketWorkflow"}
    assert PATCH_REVIEW_FINAL_DEADLINE not in tickets["ticket-v1-approved-after-escalation"]
    assert PATCH_REVIEW_FINAL_DEADLINE in tickets["ticket-v2-approved-after-escalation"]
    assert PATCH_REVIEW_FINAL_DEADLINE in tickets["ticket-v2-unanswered"]


def test_tickets_from_before_and_after_delivery_moved_to_its_own_queue_are_committed() -> None:
    """Both sides of the ``delivery-queue`` patch: v1 tickets deliver on the tickets queue and
    must keep doing so; v3 tickets deliver on the delivery queue, including one whose delivery
    was refused (DELIVERY_FAILED)."""
    tickets = {p.stem: patches(p) for p in HISTORIES if p.stem.startswith("ticket-")}
    assert PATCH_DELIVERY_QUEUE not in tickets["ticket-v1-completed"]
    assert PATCH_DELIVERY_QUEUE in tickets["ticket-v3-completed"]
    assert PATCH_DELIVERY_QUEUE in tickets["ticket-v3-delivery-failed"]


def test_batches_from_before_and_after_restarts_as_submitted_are_committed() -> None:
    """A batch whose tickets' ids ended runs held: refused, then started again by the restart
    activity (workflows/batch.py RESTARTS_AS_SUBMITTED), one per ticket and then one per group
    (GROUPED_RESTARTS); and batches from before."""
    batches = {p: patches(p) for p in HISTORIES if p.stem.startswith("batchworkflow-")}
    after = [p for p, found in batches.items() if RESTARTS_AS_SUBMITTED in found]
    assert after and any(RESTARTS_AS_SUBMITTED not in found for found in batches.values())
    # One activity per refused start (before GROUPED_RESTARTS), and one per group since.
    one_each = [p for p in after if GROUPED_RESTARTS not in batches[p]]
    grouped = [p for p in after if GROUPED_RESTARTS in batches[p]]
    assert one_each and all(f'"{names.RESTART_TICKET}"' in p.read_text() for p in one_each)
    assert grouped and all(p.read_text().count(f'"{names.RESTART_TICKETS}"') == 1 for p in grouped)


def test_histories_of_every_lifecycle_path_are_committed() -> None:
    names = {path.stem.split("-", 2)[-1] for path in HISTORIES}
    assert {
        "completed",
        "approved-after-escalation",
        "reworked-then-edited",
        "rejected",
        "failed",
        "unanswered",
        "delivery-failed",
    } <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_released_history_replays_without_nondeterminism(path: Path) -> None:
    history = load(path)
    replayer = new_replayer()
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_a_changed_command_sequence_is_caught_by_replay() -> None:
    """The guard itself works: a history whose first activity differs from what the code
    schedules must fail to replay."""
    path = next(p for p in HISTORIES if p.stem.endswith("-completed"))
    tampered = path.read_text().replace('"classify_ticket"', '"triage_ticket"', 1)
    history = WorkflowHistory.from_json("tampered", tampered)
    replayer = new_replayer()
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None


def states_upserted(path: Path) -> list[str]:
    """The TicketState values a committed history upserted, in order."""
    return upserted_states(load(path).events)


def test_both_sides_of_the_delivering_state_version_are_committed() -> None:
    """A queued delivery: v5 (lean-history) upserts VALIDATED while it waits, v6
    (delivering-state, asked at the start in lean-history's place) DELIVERING; a new ticket
    records one version marker, as before."""
    v5 = FOLDER / "ticket-v5-delivery-queued.json"
    v6 = FOLDER / "ticket-v6-delivery-queued.json"
    assert patches(v5) == {PATCH_LEAN_HISTORY}
    assert patches(v6) == {PATCH_DELIVERING_STATE}
    assert states_upserted(v5)[-2:] == ["VALIDATED", "COMPLETED"]
    assert states_upserted(v6)[-2:] == ["DELIVERING", "COMPLETED"]
    straight = FOLDER / "ticket-v6-straight-through.json"
    assert "DELIVERING" not in states_upserted(straight)
    assert len(load(straight).events) == len(
        load(FOLDER / "ticket-v5-straight-through.json").events
    )


def test_both_sides_of_the_cancel_waits_for_send_version_are_committed() -> None:
    """v7 (cancel-waits-for-send, asked at the start in delivering-state's place) records one
    version marker per ticket, as v6 did, and the same commands when nobody cancels: a
    cancellation during a send is the only path that differs (its histories are replayed by
    tests/delivery/test_cancelled_while_sending.py)."""
    for name in ("straight-through", "delivery-queued", "completed"):
        v6, v7 = FOLDER / f"ticket-v6-{name}.json", FOLDER / f"ticket-v7-{name}.json"
        assert patches(v6) == {PATCH_DELIVERING_STATE}
        assert patches(v7) == {PATCH_CANCEL_WAITS_FOR_SEND}
        assert states_upserted(v7) == states_upserted(v6)
        assert len(load(v7).events) == len(load(v6).events)


AGENT_STATES = {"NEW", "CLASSIFIED", "TRIAGED", "RESOLVING", "RESOLVED", "VALIDATED"}


def published_between_agents(path: Path) -> list[tuple[str, str]]:
    """The upserts of TicketState from one agent state to another, in order."""
    states = states_upserted(path)
    return [(a, b) for a, b in pairwise(states) if {a, b} <= AGENT_STATES]


@pytest.mark.parametrize(
    "name", ["straight-through", "completed", "delivery-queued", "reworked-then-edited"]
)
def test_both_sides_of_the_stages_at_rest_version_are_committed(name: str) -> None:
    """v12 (stages-at-rest, asked at the start in cancel-waits-for-send's place) records one
    version marker per ticket, as v7 did, and publishes no move between agent states: the same
    states where the ticket waits or ends, three events fewer for a ticket that goes straight
    through (a rework still publishes its return to the agents: it leaves the review queue)."""
    v7, v12 = FOLDER / f"ticket-v7-{name}.json", FOLDER / f"ticket-v12-{name}.json"
    assert patches(v7) == {PATCH_CANCEL_WAITS_FOR_SEND}
    assert patches(v12) == {PATCH_STAGES_AT_REST}
    assert published_between_agents(v7)
    assert published_between_agents(v12) == []
    at_rest = [s for s in states_upserted(v7) if s not in AGENT_STATES - {"NEW"}]
    assert [s for s in states_upserted(v12) if s not in AGENT_STATES - {"NEW"}] == at_rest
    if name == "straight-through":
        assert len(load(v12).events) == len(load(v7).events) - 3
    if name == "reworked-then-edited":
        assert states_upserted(v12) == [
            "NEW", "AWAITING_REVIEW", "RESOLVING", "AWAITING_REVIEW", "COMPLETED"
        ]  # fmt: skip


def test_the_committed_v7_history_of_a_cancel_during_a_send_completes_the_ticket() -> None:
    """The path the version changes: the cancel request, the queued delivery's cancel asked,
    its completion waited for, and the ticket completed (it replays above)."""
    path = FOLDER / "ticket-v7-cancelled-while-sending.json"
    kinds = [event.event_type for event in load(path).events]
    requested = kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED)
    asked = kinds.index(EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)
    done = kinds.index(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, asked)
    assert requested < asked < done
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    assert states_upserted(path)[-1] == "COMPLETED"


def test_both_sides_of_the_cancel_reads_ledger_patch_are_committed() -> None:
    """A cancel request and the queued delivery's success in one workflow task
    (tests/delivery/test_cancel_meets_the_send.py): v8 (before the patch) ended CANCELLED with
    its answer out; v9 records the patch, reads the ledger in a local activity and completes.
    Both replay above."""
    v8 = FOLDER / "ticket-v8-cancelled-as-its-send-ended.json"
    v9 = FOLDER / "ticket-v9-cancelled-as-its-send-ended.json"
    ends = {}
    for path in (v8, v9):
        kinds = [event.event_type for event in load(path).events]
        requested = kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED)
        # The delivery's success came before the cancel request, unseen by the workflow.
        assert kinds[requested - 2 : requested] == [
            EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        ]
        ends[path] = (kinds[requested + 1 :], states_upserted(path)[-1])
    assert patches(v8) == {PATCH_CANCEL_WAITS_FOR_SEND}
    assert patches(v9) == {PATCH_CANCEL_WAITS_FOR_SEND, PATCH_CANCEL_READS_LEDGER}
    after_v8, state_v8 = ends[v8]
    after_v9, state_v9 = ends[v9]
    assert EventType.EVENT_TYPE_MARKER_RECORDED not in after_v8
    assert after_v8[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED
    assert state_v8 == "CANCELLED"
    assert after_v9.count(EventType.EVENT_TYPE_MARKER_RECORDED) == 2  # the patch, the lookup
    assert after_v9[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    assert state_v9 == "COMPLETED"


def test_both_sides_of_the_budget_counts_earlier_runs_patch_are_committed() -> None:
    """A ticket started with $0.010 of earlier runs' spend under a $0.0115 budget: v7 (before
    the patch) went straight through on a fresh budget; v8 records the patch beside the version
    marker and hands the ticket to a person at triage (the reviewer edits an answer in)."""
    v7 = FOLDER / "ticket-v7-restarted-near-its-budget.json"
    v8 = FOLDER / "ticket-v8-restarted-near-its-budget.json"
    assert patches(v7) == {PATCH_CANCEL_WAITS_FOR_SEND}
    assert patches(v8) == {PATCH_CANCEL_WAITS_FOR_SEND, PATCH_BUDGET_COUNTS_EARLIER_RUNS}
    assert "AWAITING_REVIEW" not in states_upserted(v7)
    assert states_upserted(v8)[-2:] == ["AWAITING_REVIEW", "COMPLETED"]
    # Every other committed ticket history of this code's version records no such marker.
    current = [p for p in HISTORIES if p.name.startswith("ticket-v7-") and p != v7]
    assert current and all(PATCH_BUDGET_COUNTS_EARLIER_RUNS not in patches(p) for p in current)


def test_both_sides_of_the_budget_stop_classifies_patch_are_committed() -> None:
    """A ticket started again with $0.010 of earlier runs' spend under a $0.0105 budget: v9
    (recorded with the code before the patch) failed on NEW -> AWAITING_REVIEW, nobody asked;
    v10 is classified as not classified, waits for a person, who edits an answer in."""
    v9 = FOLDER / "ticket-v9-restarted-over-its-budget.json"
    v10 = FOLDER / "ticket-v10-restarted-over-its-budget.json"
    earlier = {PATCH_CANCEL_WAITS_FOR_SEND, PATCH_BUDGET_COUNTS_EARLIER_RUNS}
    assert patches(v9) == earlier and "IllegalTransition" in v9.read_text()
    assert patches(v10) == earlier | {PATCH_BUDGET_STOP_CLASSIFIES}
    assert states_upserted(v9)[-1] == "FAILED" and "AWAITING_REVIEW" not in states_upserted(v9)
    assert states_upserted(v10)[-2:] == ["AWAITING_REVIEW", "COMPLETED"]


def test_both_sides_of_the_ignore_unknown_input_fields_patch_are_committed() -> None:
    """The old side of ``ignore-unknown-input-fields`` (v9, recorded with the code before it:
    the ticket FAILED as invalid input) and the new one (v11: answered, the field left out)."""
    old, new = (FOLDER / f"ticket-{v}-input-from-a-newer-version.json" for v in ("v9", "v11"))
    assert old in HISTORIES and "InvalidTicket" in old.read_text()
    assert PATCH_IGNORE_UNKNOWN_INPUT_FIELDS not in patches(old)
    assert new in HISTORIES and PATCH_IGNORE_UNKNOWN_INPUT_FIELDS in patches(new)
    assert states_upserted(new)[-1] == "COMPLETED"


def test_a_batch_that_counted_a_newer_versions_ticket_invalid_is_committed() -> None:
    """The old side of ``unknown-fields-left-out`` (recorded with the code before it): of two
    tickets, the one with a field that version did not know was counted INVALID, so one child
    started; the new side (both started) is replayed by its workflow test's check."""
    path = FOLDER / "batchworkflow-v2-input-from-a-newer-version.json"
    events = json.loads(path.read_text())["events"]
    starts = [
        e for e in events if e["eventType"].endswith("START_CHILD_WORKFLOW_EXECUTION_INITIATED")
    ]
    assert path in HISTORIES and len(starts) == 1
    assert UNKNOWN_FIELDS_LEFT_OUT not in patches(path)
