"""Plans as DAGs: the validator, and which sub-tasks may run now."""

from collections.abc import Collection, Iterable

from shared.orchestration import (
    MAX_DEPENDENCIES,
    MAX_INSTRUCTION_CHARS,
    MAX_SUBTASK_ID_CHARS,
    Plan,
    SubTask,
)


def plan_errors(plan: Plan, known_workers: Collection[str], max_nodes: int) -> list[str]:
    """Every problem with a plan, in words a planner (or a person) can fix; empty when valid."""
    errors: list[str] = []
    tasks = plan.subtasks
    if not tasks:
        return ["the plan has no sub-tasks"]
    if len(tasks) > max_nodes:
        errors.append(f"the plan has {len(tasks)} sub-tasks; at most {max_nodes} are allowed")
    seen: set[str] = set()
    for task in tasks:
        # Limits a model's answer once had to meet to parse at all: a plan from before this
        # check never breaks them, so its history takes the same path.
        if len(task.id) > MAX_SUBTASK_ID_CHARS:
            errors.append(
                f"sub-task id {task.id[:MAX_SUBTASK_ID_CHARS]!r}... is {len(task.id)} "
                f"characters; at most {MAX_SUBTASK_ID_CHARS}"
            )
        if len(task.instruction) > MAX_INSTRUCTION_CHARS:
            errors.append(
                f"sub-task {task.id!r}'s instruction is {len(task.instruction):,} characters; "
                f"at most {MAX_INSTRUCTION_CHARS:,}"
            )
        if len(task.depends_on) > MAX_DEPENDENCIES:
            errors.append(
                f"sub-task {task.id!r} depends on {len(task.depends_on)} others; "
                f"at most {MAX_DEPENDENCIES}"
            )
        if task.id in seen:
            errors.append(f"sub-task id {task.id!r} is used more than once")
        seen.add(task.id)
    for task in tasks:
        if task.worker not in known_workers:
            errors.append(
                f"sub-task {task.id!r} asks for worker type {task.worker!r}; "
                f"known types: {', '.join(sorted(known_workers))}"
            )
        for dep in task.depends_on:
            if dep == task.id:
                errors.append(f"sub-task {task.id!r} depends on itself")
            elif dep not in seen:
                # An id is bounded, a dependency's text is not: the error goes back to the
                # planner and into the run's failure, so a long one is shown cut.
                shown = repr(dep[:MAX_SUBTASK_ID_CHARS]) + (
                    "..." if len(dep) > MAX_SUBTASK_ID_CHARS else ""
                )
                errors.append(f"sub-task {task.id!r} depends on {shown}, which is not in the plan")
    if cycle := find_cycle(tasks):
        # Each id as the other messages quote it (repr): an id is the model's text, and one
        # with a line break spoke as the planner's prompt on its retry (a review, 2026-12-07).
        errors.append(f"the plan has a cycle: {' -> '.join(map(repr, cycle))}")
    return errors


def find_cycle(tasks: Iterable[SubTask]) -> list[str] | None:
    """A dependency cycle as a path (first node repeated at the end), or None."""
    graph = {t.id: [d for d in t.depends_on if d != t.id] for t in tasks}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, []):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if state.get(dep) is None and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (found := visit(node)):
            return found
    return None


def ready(plan: Plan, completed: Collection[str], started: Collection[str]) -> list[SubTask]:
    """Sub-tasks whose own dependencies are all completed and that have not started: each runs
    as soon as it can, never waiting for unrelated branches."""
    return [
        t
        for t in plan.subtasks
        if t.id not in started and all(dep in completed for dep in t.depends_on)
    ]


def dependents(plan: Plan, failed: str) -> list[str]:
    """Every sub-task that needs ``failed``, directly or through others (plan order)."""
    blocked = {failed}
    changed = True
    while changed:
        changed = False
        for t in plan.subtasks:
            if t.id not in blocked and any(d in blocked for d in t.depends_on):
                blocked.add(t.id)
                changed = True
    return [t.id for t in plan.subtasks if t.id in blocked and t.id != failed]
