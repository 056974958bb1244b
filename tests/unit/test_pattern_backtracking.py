"""Patterns that read text a customer or an operator wrote (a ticket's body, an orchestrator
task, a prompt's parts) never backtrack for long. Python's ``re`` holds the interpreter for the
whole match, so a slow one stopped a worker's event loop, heartbeats and workflow tasks (the
trimming's own cases are in test_trimming.py). Each runs apart, so a pattern gone bad fails
the test instead of hanging the suite; the bound is a hang's, not a speed target."""

import pytest

from tests.support.hang_bound import finishes_apart

# (what to print of the text read from stdin, the text, what it prints): the worst input found
# for each, and the answer the pattern gives it (none of them is a match).
CASES = {
    # The offline planner's "compare X and Y" on a task of 20,000 characters: 9 s at 2,000.
    "planner-compare": (
        "from activities.providers.offline.planner import COMPARE; "
        "print(COMPARE.search(text) is not None)",
        "compare" + " " * 19_990 + "x",
        "False",
    ),
    # The customer-text tag taken out of a prompt's parts: quadratic.
    "prompt-tag": (
        "from activities.agent_specs import untrusted; print('x' in untrusted(text))",
        "<" + " " * 19_990 + "x",
        "True",  # the text kept, no tag found in it
    ),
    # The offline workers' "reply ... customer": quadratic on repeated words.
    "reply-task": (
        "from activities.providers.offline.workers import REPLY_WORD, CUSTOMER_WORD; "
        "print(bool(REPLY_WORD.search(text) and CUSTOMER_WORD.search(text)))",
        "reply " * 3_300,
        "False",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_text_makes_a_pattern_backtrack_for_long(case: str) -> None:
    code, text, answer = CASES[case]
    assert finishes_apart(code, text, f"the {case} pattern").strip() == answer
