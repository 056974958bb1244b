"""When a person must look at a ticket before its answer goes out."""

import re
from pathlib import Path

import pytest

from policy.review_policy import REASON_CODES, ReviewReason, in_brief, review_needs
from shared.agents import Category, Finding, FindingCode, Priority
from shared.pipeline_config import ReviewPolicyConfig


def reasons(config: ReviewPolicyConfig | None = None, **given: object) -> list[str]:
    """The review reasons' words for a ticket that is fine in every respect not given."""
    return [need.text for need in needs(config, **given)]


def needs(
    config: ReviewPolicyConfig | None = None,
    *,
    category: Category = Category.GENERAL,
    confidence: float = 0.95,
    priority: Priority = Priority.MEDIUM,
    validator_findings: list[Finding] | None = None,
    revision_rounds: int = 0,
    rework_requested: bool = False,
) -> list[ReviewReason]:
    return review_needs(
        config or ReviewPolicyConfig(),
        category=category,
        confidence=confidence,
        priority=priority,
        validator_findings=validator_findings or [],
        revision_rounds=revision_rounds,
        rework_requested=rework_requested,
    )


def finding(message: str) -> Finding:
    return Finding(code=FindingCode.UNGROUNDED, message=message)


def test_a_confident_ordinary_ticket_needs_no_review() -> None:
    assert reasons() == []


def test_low_confidence_needs_review_and_names_the_threshold() -> None:
    [reason] = reasons(confidence=0.4)
    assert "0.40" in reason
    assert "below the 0.60 threshold" in reason


def test_an_urgent_ticket_always_needs_review() -> None:
    assert reasons(priority=Priority.URGENT) == ["priority is Urgent"]


@pytest.mark.parametrize("priority", [Priority.LOW, Priority.MEDIUM, Priority.HIGH])
def test_a_non_urgent_ticket_needs_no_review_for_its_priority(priority: Priority) -> None:
    assert reasons(priority=priority) == []


def test_a_sensitive_category_needs_review() -> None:
    config = ReviewPolicyConfig(sensitive_categories=[Category.BILLING])
    [reason] = reasons(config, category=Category.BILLING)
    assert "Billing" in reason
    assert "sensitive" in reason


def test_a_category_not_configured_as_sensitive_needs_no_review() -> None:
    config = ReviewPolicyConfig(sensitive_categories=[Category.BILLING])
    assert reasons(config, category=Category.TECHNICAL) == []


def test_open_validator_findings_after_the_revision_rounds_need_review() -> None:
    [reason] = reasons(
        validator_findings=[finding("promises a refund"), finding("cites no article")],
        revision_rounds=2,
    )
    assert "after 2 revision round(s)" in reason
    assert "promises a refund; cites no article" in reason


def test_only_the_first_three_findings_are_summarised() -> None:
    [reason] = reasons(
        validator_findings=[finding(f"problem {n}") for n in range(1, 5)], revision_rounds=1
    )
    assert "problem 1; problem 2; problem 3" in reason
    assert "problem 4" not in reason


def test_a_reworked_draft_needs_the_reviewers_approval() -> None:
    [reason] = reasons(rework_requested=True)
    assert "rework" in reason


def test_every_reason_is_listed_when_several_apply() -> None:
    config = ReviewPolicyConfig(sensitive_categories=[Category.ACCOUNT])
    found = reasons(
        config,
        category=Category.ACCOUNT,
        confidence=0.3,
        priority=Priority.URGENT,
        validator_findings=[finding("leaks an internal note")],
        revision_rounds=2,
        rework_requested=True,
    )
    assert len(found) == 5
    assert "0.30" in found[0]
    assert found[1] == "priority is Urgent"
    assert "Account" in found[2]
    assert "leaks an internal note" in found[3]
    assert "rework" in found[4]


def test_two_reasons_at_once_are_both_given() -> None:
    found = reasons(confidence=0.1, priority=Priority.URGENT)
    assert len(found) == 2
    assert "threshold" in found[0]
    assert found[1] == "priority is Urgent"


def test_urgent_review_can_be_turned_off() -> None:
    config = ReviewPolicyConfig(review_urgent=False)
    assert reasons(config, priority=Priority.URGENT) == []


def test_confidence_equal_to_the_threshold_is_not_a_reason() -> None:
    assert reasons(ReviewPolicyConfig(min_confidence=0.6), confidence=0.6) == []


def test_confidence_just_below_the_threshold_is_a_reason() -> None:
    assert len(reasons(ReviewPolicyConfig(min_confidence=0.6), confidence=0.59)) == 1


def test_the_confidence_threshold_is_configurable() -> None:
    config = ReviewPolicyConfig(min_confidence=0.9)
    [reason] = reasons(config, confidence=0.85)
    assert "below the 0.90 threshold" in reason
    assert reasons(ReviewPolicyConfig(min_confidence=0.8), confidence=0.85) == []


def test_a_confidence_just_under_the_threshold_never_reads_as_equal_to_it() -> None:
    found = reasons(ReviewPolicyConfig(min_confidence=0.6), confidence=0.599)
    assert found == ["classifier confidence 0.599 is below the 0.60 threshold"]


def test_every_reason_carries_its_code_and_the_codes_read_in_a_few_words() -> None:
    found = needs(
        ReviewPolicyConfig(sensitive_categories=[Category.ACCOUNT]),
        category=Category.ACCOUNT,
        confidence=0.3,
        priority=Priority.URGENT,
        validator_findings=[finding("quotes the customer's card number")],
        revision_rounds=2,
        rework_requested=True,
    )
    codes = [need.code for need in found]

    assert codes == [
        "low-confidence",
        "urgent",
        "sensitive-category",
        "validator-findings",
        "reworked",
    ]
    assert "card number" in found[3].text  # the words a reviewer reads; never in the codes
    # Codes are the search attribute's: never a model's or a customer's words.
    assert set(codes) <= set(REASON_CODES) and all(c.isascii() and " " not in c for c in codes)
    assert in_brief(codes[:2]) == "low confidence, urgent" and in_brief([]) == ""


def test_docs_list_every_review_reason_code_and_no_other() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md").read_text()
    table = text.split("| code | the ticket waits because |", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"^\s*\| `([a-z-]+)` \|", table, re.M)) == set(REASON_CODES)
