"""The escalation cues (policy/escalation.py) only grow: a text that had a cue keeps one, so a
history that asked its patch because of it asks it again on replay (docs/versioning.md). Reading
the text with its whitespace collapsed, alone, narrowed two negative lookaheads: "fraud\\n
detection" and "account\\nmanagement" were cues as released and were no cue after (a review,
2026-12-07). The replay of such a ticket: tests/replay/test_escalation_cue_readings.py."""

import pytest

from policy.escalation import escalation_cues


@pytest.mark.parametrize(
    "text",
    [
        "Your fraud\ndetection flagged my card",  # cues as released before the spaces' reading
        "the fraud  prevention team",
        "someone has taken over my account\nmanagement page",
        "I will talk to my\nlawyer about this",  # a cue wrapped across lines
        "Someone hacked into my account last night",
    ],
)
def test_a_text_that_had_a_cue_keeps_one(text: str) -> None:
    assert escalation_cues(text)


@pytest.mark.parametrize(
    "text", ["How does your fraud detection work?", "Who handles account management?"]
)
def test_a_question_about_fraud_checks_or_account_management_is_no_cue(text: str) -> None:
    assert escalation_cues(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "my law\u00adyer will hear of this",
        "my\u200b lawyer will hear of this",
        "I didn\u02bct authorize this charge",
    ],
    ids=["soft-hyphen", "zero-width-space", "modifier-apostrophe"],
)
def test_a_cue_with_invisible_or_look_alike_characters_is_a_cue(text: str) -> None:
    # A review (2026-12-07): a soft hyphen or a zero-width space inside a cue, or U+02BC for
    # the apostrophe, was no cue (read after the readings before it: they only widen).
    assert escalation_cues(text)


@pytest.mark.parametrize(
    "text",
    [
        "There are three charges on my card that I did not make. Please refund them.",
        "These charges are not mine, someone used my credit card. I want a refund.",
        "My account was hijacked yesterday and the email address was changed.",
    ],
)
def test_common_ways_to_report_fraud_or_a_takeover_are_cues(text: str) -> None:
    """Each was answered by a template (the duplicate-charge one, the password reset) with no
    person involved (a review, 2026-12-07)."""
    assert escalation_cues(text)


@pytest.mark.parametrize(
    "text",
    [
        "I made a payment yesterday but it is not showing on my account.",
        "The charge is mine, I only need an invoice for it.",
        "Can I use my credit card for the annual plan?",
        # A review of the first patterns found these read as fraud (2026-12-07):
        "The payment is overdue because I didn't make it in time.",
        "We booked the purchase but we never made it to the hotel.",
        "The payment failed so I did not place the order again.",
        "The payment went through, but I never placed a second order.",
        "The charge is not mine to approve, my manager does that.",
        "Can someone reset my card PIN?",
    ],
)
def test_payments_the_customer_made_are_no_cue(text: str) -> None:
    assert escalation_cues(text) == []
