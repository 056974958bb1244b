"""When must a person look at a ticket before its answer goes out?"""

from enum import StrEnum
from typing import NamedTuple

from shared.agents import Category, Finding, Priority
from shared.pipeline_config import ReviewPolicyConfig


class ReasonCode(StrEnum):
    """Why a ticket waits for a person, as a code: the ticket's `TicketReviewReasons` search
    attribute (the review queue shows it without asking a worker, and filters by it), so never
    customer text. The words a reviewer reads go with it in the ticket's view. docs/lifecycle.md
    lists them."""

    LOW_CONFIDENCE = "low-confidence"
    URGENT = "urgent"
    SENSITIVE_CATEGORY = "sensitive-category"
    VALIDATOR_FINDINGS = "validator-findings"
    REWORKED = "reworked"  # a reviewer asked for rework: the new draft needs their approval
    INVALID_OUTPUT = "invalid-output"  # an agent's output stayed invalid
    BUDGET = "budget"  # the ticket's token or cost budget stopped its agents
    REWORK_FAILED = "rework-failed"  # a rework's agent call failed on every route


REASON_CODES = tuple(code.value for code in ReasonCode)
# Each code in a few words, for the review queue's "Why" column (the ticket's page has the rest).
REASON_LABELS: dict[str, str] = {
    ReasonCode.LOW_CONFIDENCE: "low confidence",
    ReasonCode.URGENT: "urgent",
    ReasonCode.SENSITIVE_CATEGORY: "sensitive category",
    ReasonCode.VALIDATOR_FINDINGS: "validator findings",
    ReasonCode.REWORKED: "reworked: new draft",
    ReasonCode.INVALID_OUTPUT: "agent output invalid",
    ReasonCode.BUDGET: "budget spent",
    ReasonCode.REWORK_FAILED: "rework failed",
}


def in_brief(codes: list[str]) -> str:
    """Reason codes in a few words each ("" for none); a code this version does not know (a
    newer worker's) as it is."""
    return ", ".join(REASON_LABELS.get(code, code) for code in codes)


class ReviewReason(NamedTuple):
    code: ReasonCode
    text: str  # in words a reviewer can act on (may quote a model's findings)


def review_needs(
    config: ReviewPolicyConfig,
    *,
    category: Category,
    confidence: float,
    priority: Priority,
    validator_findings: list[Finding],
    revision_rounds: int,
    rework_requested: bool,
) -> list[ReviewReason]:
    """Every reason a person must review, with its code; empty means none.

    ``validator_findings`` are the findings still open on the final draft: the workflow only gets
    here with open findings once the validator's revision rounds are spent.
    """
    reasons: list[ReviewReason] = []
    if confidence < config.min_confidence:
        shown = f"{confidence:.2f}"
        if shown == f"{config.min_confidence:.2f}":  # 0.599 must not read "0.60 is below 0.60"
            shown = f"{confidence:.4g}"
        reasons.append(
            ReviewReason(
                ReasonCode.LOW_CONFIDENCE,
                f"classifier confidence {shown} is below the {config.min_confidence:.2f} threshold",
            )
        )
    if config.review_urgent and priority is Priority.URGENT:
        reasons.append(ReviewReason(ReasonCode.URGENT, "priority is Urgent"))
    if category in config.sensitive_categories:
        reasons.append(
            ReviewReason(
                ReasonCode.SENSITIVE_CATEGORY, f"category {category} is configured as sensitive"
            )
        )
    if validator_findings:
        summary = "; ".join(f.message for f in validator_findings[:3])
        reasons.append(
            ReviewReason(
                ReasonCode.VALIDATOR_FINDINGS,
                f"validator still has findings after {revision_rounds} revision round(s): "
                f"{summary}",
            )
        )
    if rework_requested:
        approval = "a reviewer asked for rework; the new draft needs their approval"
        reasons.append(ReviewReason(ReasonCode.REWORKED, approval))
    return reasons
