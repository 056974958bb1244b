"""Patterns that read text a customer or an operator wrote (a ticket's body, an orchestrator
task, a prompt's parts) never backtrack for long. Python's ``re`` holds the interpreter for the
whole match, so a slow one stopped a worker's event loop, heartbeats and workflow tasks (the
trimming's own cases are in test_trimming.py). Each runs apart, so a pattern gone bad fails
the test instead of hanging the suite; the bound is a hang's, not a speed target."""

import pytest

from tests.support.hang_bound import finishes_apart

# (what to run on the text read from stdin, the text): the worst input found for each.
CASES = {
    # The offline planner's "compare X and Y" on a task of 20,000 characters: 9 s at 2,000.
    "planner-compare": (
        "from activities.providers.offline.planner import COMPARE; COMPARE.search(text)",
        "compare" + " " * 19_990 + "x",
    ),
    # The customer-text tag taken out of a prompt's parts: quadratic.
    "prompt-tag": (
        "from activities.agent_specs import untrusted; untrusted(text)",
        "<" + " " * 19_990 + "x",
    ),
    # The offline workers' "reply ... customer": quadratic on repeated words.
    "reply-task": (
        "from activities.providers.offline.workers import REPLY_WORD, CUSTOMER_WORD; "
        "REPLY_WORD.search(text) and CUSTOMER_WORD.search(text)",
        "reply " * 3_300,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_text_makes_a_pattern_backtrack_for_long(case: str) -> None:
    code, text = CASES[case]
    finishes_apart(code, text, f"the {case} pattern")
