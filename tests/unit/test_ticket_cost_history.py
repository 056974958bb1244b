"""What `bench ticket_cost` reads from a ticket's history: the billable actions, and the shape
its bare workflow repeats (per workflow task: patch markers, local activities, upserts,
activities). Read from a committed straight-through ticket's history."""

from pathlib import Path

from temporalio.client import WorkflowHistory

from bench.ticket_history import billable_actions, history_cost, ticket_shape

STRAIGHT_THROUGH = (
    Path(__file__).parent.parent / "replay" / "histories" / "ticket-v12-straight-through.json"
)


def history() -> WorkflowHistory:
    return WorkflowHistory.from_json("ticket-T-1", STRAIGHT_THROUGH.read_text())


def test_the_shape_is_what_each_workflow_task_asked_of_temporal() -> None:
    # The first task: the version's patch marker (its TemporalChangeVersion upsert is the
    # patch's own), the configuration snapshot, the state (NEW: this test server's start came
    # without it), the classifier's call; then an agent call each, publishing nothing (the
    # stages-at-rest version); the last: the delivery's local attempt and the final state.
    assert ticket_shape(history()) == [
        [1, 1, 1, 1],
        [0, 0, 0, 1],
        [0, 1, 0, 1],
        [0, 0, 0, 1],
        [0, 1, 1, 0],
    ]


def test_the_shape_accounts_for_every_command_of_the_history() -> None:
    cost = history_cost(history())
    shape = ticket_shape(history())

    assert len(shape) == cost.workflow_tasks
    assert sum(step[1] for step in shape) == cost.local_activities
    assert sum(step[0] + step[1] for step in shape) == cost.markers
    assert sum(step[3] for step in shape) == cost.activities
    # Upserts: the patch's own one is not in the shape.
    assert sum(step[2] for step in shape) == cost.upserts - sum(step[0] for step in shape)


def test_billable_actions_count_the_start_attempts_local_batches_and_upserts() -> None:
    # The start, four activity attempts, three workflow tasks with local activities, two
    # upserts of the ticket's own attributes (not the patch's TemporalChangeVersion).
    assert billable_actions(history()) == 1 + 4 + 3 + 2
