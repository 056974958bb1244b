"""Which patches a committed history records, so the list of those with none can only shrink.

A patch's new path is replayed by the test that takes it (its ``replay_check``), but only with the
code of the same run: a later change to that path's commands passes every test while it breaks the
tickets already on it. A committed history recording the patch's marker guards it (the replay
test replays every committed history against today's code). These patches have none yet; some
are recorded under a newer version's marker that implies them, which this cannot see. A new patch
joins the list only by name, here, with the reason; recording its history
(``python -m tests.replay.record_histories``) takes it off.
"""

import ast
from pathlib import Path

from tests.replay.committed import HISTORIES, patches

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
PATCH_CALLS = {"patched", "deprecate_patch"}

# Recorded by no committed history, with the reason (a read-only review of the workflows,
# 2026-12-04, named 17; the rest have one since, from tests/replay/ticket_scenarios.py or
# tests/replay/record_paths.py). Each is taken by a test whose replay check replays it with the
# same code.
WITHOUT_A_COMMITTED_HISTORY = {
    "byte-bounded-groups": "its path needs a group of starts past 2 MB: a history of megabytes",
    "bounded-fallback-bursts": "its path needs next routes past 1 MB in one task: a history of "
    "megabytes (test_swarm_fallback_burst.py replays it)",
    "encoded-size-groups": "the same, counted as encoded JSON",
    "illegal-transition-tells-batch": "a bug's path; never asked since lean-history implies it",
    "refuses-too-many-items": "its path needs an input of 20,001 items: a history of megabytes "
    "(test_swarm_large.py replays it)",
    "batch-refuses-too-many": "its path needs an input of 100,001 tickets: megabytes in the "
    "payload store the history refers to (test_batch_too_large.py replays it)",
    "batch-started-run-is-first": "its path needs an input of 100,001 tickets, as "
    "batch-refuses-too-many's (test_batch_too_large.py replays it)",
    "local-failure-fails-ticket": "never asked since delivering-state implies it; "
    "ticket-v6/v7-delivery-refused-locally take its path",
    "route-bounded-chunks": "never asked since sizes-decided-first implies it",
    "timeout-usage-billed": "its test runs one agent call in a test workflow, not a ticket",
}


def patch_ids_in_code() -> set[str]:
    """Every id the workflows pass to ``workflow.patched`` or ``deprecate_patch``: a literal, or
    a module-level constant of any workflow module (the ids are imported across them)."""
    constants: dict[str, set[str]] = {}
    arguments: list[tuple[str, ast.expr]] = []
    for module in sorted(WORKFLOWS.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = node.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    for target in targets:
                        if isinstance(target, ast.Name):
                            constants.setdefault(target.id, set()).add(value.value)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in PATCH_CALLS
                and node.args
            ):
                arguments.append((module.name, node.args[0]))
    found: set[str] = set()
    for module, argument in arguments:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            found.add(argument.value)
        elif isinstance(argument, ast.Name) and len(constants.get(argument.id, ())) == 1:
            found |= constants[argument.id]
        else:
            unread = ast.unparse(argument)
            raise AssertionError(f"{module}: a patch id this test cannot read: {unread}")
    return found


def test_the_patches_without_a_committed_history_are_only_the_known_ones() -> None:
    in_code = patch_ids_in_code()
    recorded = set().union(*(patches(path) for path in HISTORIES))

    assert len(in_code) > 30  # the reader found the patches (38 on 2026-12-04)
    missing = in_code - recorded
    new = sorted(missing - set(WITHOUT_A_COMMITTED_HISTORY))
    assert not new, (
        f"patches no committed history records: {new}; record one with "
        "`python -m tests.replay.record_histories`, or name them in WITHOUT_A_COMMITTED_HISTORY "
        "with the reason"
    )
    covered_now = sorted(set(WITHOUT_A_COMMITTED_HISTORY) - missing)
    assert not covered_now, f"recorded now (or gone): take {covered_now} off the list"
