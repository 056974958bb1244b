"""Which runs of a swarm or batch are later runs (workflows/run_chain.py): those the workflow
continued as new itself. A workflow retry's run and a cron schedule's next run also carry a
``continued_run_id``, with the input the client gave: a state a client made there is a first
run's, whatever it says."""

import pytest

from workflows.run_chain import later_run


@pytest.mark.parametrize(
    ("continued_from", "continued_run_id", "attempt", "cron", "later"),
    [
        (None, None, 1, None, False),  # started
        ("run-1", None, 1, None, False),  # started with a state naming some run
        ("run-1", "run-1", 1, None, True),  # continued as new by the workflow itself
        ("run-1", "run-1", 1, "0 * * * *", True),  # the same, in a cron schedule's execution
        ("run-1", "run-2", 2, None, False),  # a retry of run-2, a later run begun by run-1
        ("run-1", "run-2", 1, "0 * * * *", False),  # a cron schedule's next run after run-2
        (None, "run-1", 1, None, True),  # continued by a version before continued_from
        (None, "run-1", 2, None, False),  # a workflow retry of a started run
        (None, "run-1", 1, "0 * * * *", False),  # a cron schedule's next run
    ],
)
def test_a_later_run_is_one_the_workflow_continued_as_new_itself(
    continued_from: str | None, continued_run_id: str | None, attempt: int, cron: str | None,
    later: bool,
) -> None:  # fmt: skip
    assert later_run(continued_from, continued_run_id, attempt, cron) is later
