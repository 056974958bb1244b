"""Plans as DAGs: every problem named by the validator, cycles reported as paths, and which
sub-tasks may run (or are blocked) at any moment."""

import pytest

from policy.plan import dependents, find_cycle, plan_errors, ready
from shared.orchestration import MAX_SUBTASK_ID_CHARS, Plan, SubTask, WorkerType

WORKERS = [w.value for w in WorkerType]


def task(task_id: str, *deps: str, worker: str = "researcher") -> SubTask:
    return SubTask(id=task_id, worker=worker, instruction=f"do {task_id}", depends_on=list(deps))


def plan_of(*tasks: SubTask) -> Plan:
    return Plan(subtasks=list(tasks))


def diamond() -> Plan:
    """a -> (b, c) -> d, plus an unrelated branch x -> y."""
    return plan_of(
        task("a"),
        task("b", "a"),
        task("c", "a"),
        task("d", "b", "c", worker="analyst"),
        task("x"),
        task("y", "x", worker="writer"),
    )


# ---- plan_errors ---------------------------------------------------------------------------------


def test_a_valid_plan_has_no_errors() -> None:
    assert plan_errors(diamond(), WORKERS, max_nodes=6) == []


def test_an_empty_plan_is_refused_with_that_single_error() -> None:
    assert plan_errors(Plan(subtasks=[]), WORKERS, max_nodes=8) == ["the plan has no sub-tasks"]


def test_too_many_sub_tasks_names_the_count_and_the_limit() -> None:
    plan = plan_of(task("a"), task("b"), task("c"))
    assert plan_errors(plan, WORKERS, max_nodes=2) == [
        "the plan has 3 sub-tasks; at most 2 are allowed"
    ]
    assert plan_errors(plan, WORKERS, max_nodes=3) == []


def test_a_duplicate_id_is_named() -> None:
    plan = plan_of(task("a"), task("b"), task("a", worker="writer"))
    assert plan_errors(plan, WORKERS, max_nodes=8) == ["sub-task id 'a' is used more than once"]


def test_an_unknown_worker_type_lists_the_known_types_sorted() -> None:
    plan = plan_of(task("a"), task("b", "a", worker="poet"))
    assert plan_errors(plan, WORKERS, max_nodes=8) == [
        "sub-task 'b' asks for worker type 'poet'; "
        "known types: analyst, coder, researcher, reviewer, writer"
    ]


def test_a_self_dependency_is_named_and_not_also_reported_as_a_cycle() -> None:
    plan = plan_of(task("a", "a"))
    assert plan_errors(plan, WORKERS, max_nodes=8) == ["sub-task 'a' depends on itself"]


def test_a_missing_dependency_is_named() -> None:
    plan = plan_of(task("a"), task("b", "a", "ghost"))
    assert plan_errors(plan, WORKERS, max_nodes=8) == [
        "sub-task 'b' depends on 'ghost', which is not in the plan"
    ]


def test_a_long_missing_dependency_is_named_cut_to_an_id_s_length() -> None:
    # Its whole text (100,000 characters here) went back to the planner and into the run's
    # failure message (a review, 2026-12-07).
    plan = plan_of(task("a"), task("b", "a", "x" * 100_000))
    (error,) = plan_errors(plan, WORKERS, max_nodes=8)
    assert error == (
        f"sub-task 'b' depends on {'x' * MAX_SUBTASK_ID_CHARS!r}..., which is not in the plan"
    )


def test_a_dependency_declared_later_in_the_plan_is_not_missing() -> None:
    plan = plan_of(task("b", "a"), task("a"))
    assert plan_errors(plan, WORKERS, max_nodes=8) == []


def test_a_two_node_cycle_is_reported_as_a_path() -> None:
    plan = plan_of(task("a", "b"), task("b", "a"))
    assert plan_errors(plan, WORKERS, max_nodes=8) == ["the plan has a cycle: 'a' -> 'b' -> 'a'"]


def test_a_three_node_cycle_is_reported_with_its_full_path() -> None:
    plan = plan_of(task("a", "b"), task("b", "c"), task("c", "a"), task("d", "c"))
    cycle = "the plan has a cycle: 'a' -> 'b' -> 'c' -> 'a'"
    assert plan_errors(plan, WORKERS, max_nodes=8) == [cycle]


def test_every_problem_is_reported_at_once() -> None:
    plan = plan_of(
        task("a", "a"),
        task("a", worker="wizard"),
        task("b", "nowhere"),
    )
    errors = plan_errors(plan, WORKERS, max_nodes=2)
    assert errors == [
        "the plan has 3 sub-tasks; at most 2 are allowed",
        "sub-task id 'a' is used more than once",
        "sub-task 'a' depends on itself",
        "sub-task 'a' asks for worker type 'wizard'; "
        "known types: analyst, coder, researcher, reviewer, writer",
        "sub-task 'b' depends on 'nowhere', which is not in the plan",
    ]


# ---- find_cycle ----------------------------------------------------------------------------------


def test_find_cycle_returns_none_for_a_dag() -> None:
    assert find_cycle(diamond().subtasks) is None


def test_find_cycle_ignores_self_dependencies_and_unknown_nodes() -> None:
    assert find_cycle([task("a", "a"), task("b", "a", "ghost")]) is None


def test_find_cycle_returns_the_path_with_the_first_node_repeated() -> None:
    tasks = [task("start"), task("p", "start", "r"), task("q", "p"), task("r", "q")]
    cycle = find_cycle(tasks)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert cycle == ["p", "r", "q", "p"]


def test_find_cycle_reports_only_the_cycle_not_the_path_into_it() -> None:
    # "aa" is visited first and leads into the cycle b -> c -> b, but is not part of it.
    tasks = [task("aa", "b"), task("b", "c"), task("c", "b")]
    assert find_cycle(tasks) == ["b", "c", "b"]


# ---- ready ---------------------------------------------------------------------------------------


def ids(tasks: list[SubTask]) -> list[str]:
    return [t.id for t in tasks]


def test_at_the_start_only_tasks_without_dependencies_are_ready() -> None:
    assert ids(ready(diamond(), completed=set(), started=set())) == ["a", "x"]


def test_a_task_is_ready_when_its_own_dependencies_are_done_not_unrelated_branches() -> None:
    # x's branch is still running; y only needs x, b and c only need a.
    assert ids(ready(diamond(), completed={"a"}, started={"a", "x"})) == ["b", "c"]
    # y is ready as soon as x is done, even though b and c are still running.
    assert ids(ready(diamond(), completed={"a", "x"}, started={"a", "x", "b", "c"})) == ["y"]


def test_a_join_waits_for_every_one_of_its_dependencies() -> None:
    started = {"a", "b", "c", "x", "y"}
    assert ids(ready(diamond(), completed={"a", "b"}, started=started)) == []
    assert ids(ready(diamond(), completed={"a", "b", "c"}, started=started)) == ["d"]


def test_started_tasks_are_never_ready_again() -> None:
    everything = {t.id for t in diamond().subtasks}
    assert ready(diamond(), completed=everything, started=everything) == []


# ---- dependents ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failed", "blocked"),
    [
        ("a", ["b", "c", "d"]),
        ("b", ["d"]),
        ("d", []),
        ("x", ["y"]),
    ],
)
def test_dependents_are_transitive_and_in_plan_order(failed: str, blocked: list[str]) -> None:
    assert dependents(diamond(), failed) == blocked


def test_dependents_of_a_long_chain_listed_out_of_order_keep_plan_order() -> None:
    plan = plan_of(task("d", "c"), task("c", "b"), task("b", "a"), task("a"), task("z"))
    assert dependents(plan, "a") == ["d", "c", "b"]


def test_a_plan_past_the_limits_a_model_is_told_goes_back_to_the_planner_naming_them() -> None:
    """They were the answer model's own limits: a plan of 60 sub-tasks or an id of 47
    characters failed to parse on every route and the run failed as an agent failure, never
    going back to the planner with what was wrong."""
    long_id = "research-refund-policy-for-annual-subscriptions"  # 47 characters
    sixty = Plan(
        subtasks=[
            SubTask(id=long_id, worker="researcher", instruction="x" * 2_001),
            SubTask(id="b", worker="writer", instruction="write", depends_on=[long_id] * 21),
            *(SubTask(id=f"t{i}", worker="writer", instruction="w") for i in range(58)),
        ]
    )
    errors = plan_errors(sixty, {"researcher", "writer"}, max_nodes=8)

    assert "the plan has 60 sub-tasks; at most 8 are allowed" in errors
    assert f"sub-task id {long_id[:40]!r}... is 47 characters; at most 40" in errors
    assert f"sub-task {long_id!r}'s instruction is 2,001 characters; at most 2,000" in errors
    assert "sub-task 'b' depends on 21 others; at most 20" in errors


def test_a_plan_of_the_most_nodes_a_configuration_allows_and_more_goes_back_to_the_planner() -> (
    None
):
    # A review (2026-12-07): max_nodes may be 50, and the answer's own cap was 200 sub-tasks,
    # so a plan of 201-250 failed to parse instead of going back with "at most 50"; and a long
    # rationale (which nothing reads, and the model is not told a limit of) failed it too.
    many = Plan.model_validate(
        {
            "subtasks": [
                {"id": f"t{i}", "worker": "writer", "instruction": "w"} for i in range(5 * 50)
            ],
            "rationale": "because " * 500,
        }
    )
    assert len(many.rationale) == 1_000
    errors = plan_errors(many, {"writer"}, max_nodes=50)
    assert "the plan has 250 sub-tasks; at most 50 are allowed" in errors
