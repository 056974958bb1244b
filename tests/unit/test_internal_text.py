"""What marks a person's edited reply as pasted from the team's notes (``label_in_an_edit``):
the phrases used as labels, not in a sentence (patch internal-edit-narrowed; the broad rule,
``internal_label``, refused "I have added an internal note to your account")."""

import pytest

from policy.internal_text import internal_label, label_in_an_edit


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Thanks, fixed.\nINTERNAL: refund above 500 USD approved", "INTERNAL:"),
        ("Internal note: check with finance first", "Internal note:"),
        ("internal note - the customer is angry", "internal note -"),
        ("Hi,\n[internal] do not refund\nThanks", "[internal]"),
        ("Hi (internal note) the refund is late", "(internal note)"),
        ("Not for customers\nRefund approved by the lead", "Not for customers"),
        ("> Internal note\nfrom the lead", "> Internal note"),
        ("INTERNAL NOTE the customer is angry", "INTERNAL NOTE"),
        ("The refund is NOT FOR CUSTOMERS yet", "NOT FOR CUSTOMERS"),
        ("- internal only: approved", "- internal only:"),
        ("TODO: check the refund", "TODO"),
        ("Internal\u00a0note: a no-break space", "Internal note:"),
        ("TO\u200bDO", "TODO"),
    ],
)
def test_a_label_of_the_team_s_notes_is_named(text: str, label: str) -> None:
    assert label_in_an_edit(text) == label


@pytest.mark.parametrize(
    "text",
    [
        "I have added an internal note to your account so billing sees the refund.",
        "This plan is not for customers in the EU, sorry.",
        "Internal notes are kept private, and yours is with the billing team.",
        "We track it in an internal tool, and you will hear from us.",
        "Please add it to your todo list.",
        "Please do not share your password with anyone.",
    ],
)
def test_the_phrases_in_a_sentence_are_a_reply(text: str) -> None:
    assert label_in_an_edit(text) is None


def test_the_broad_rule_refused_a_sentence_the_narrow_one_takes() -> None:
    # What a signal ignored before the patch replays by (workflows/review_gate.py).
    sentence = "I have added an internal note to your account."
    assert internal_label(sentence) == "internal note" and label_in_an_edit(sentence) is None
