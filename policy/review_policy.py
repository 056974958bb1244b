"""When must a person look at a ticket before its answer goes out?"""

from shared.agents import Category, Finding, Priority
from shared.pipeline_config import ReviewPolicyConfig


def review_reasons(
    config: ReviewPolicyConfig,
    *,
    category: Category,
    confidence: float,
    priority: Priority,
    validator_findings: list[Finding],
    revision_rounds: int,
    rework_requested: bool,
) -> list[str]:
    """Every reason a person must review, in words a reviewer can act on; empty means none.

    ``validator_findings`` are the findings still open on the final draft: the workflow only gets
    here with open findings once the validator's revision rounds are spent.
    """
    reasons: list[str] = []
    if confidence < config.min_confidence:
        shown = f"{confidence:.2f}"
        if shown == f"{config.min_confidence:.2f}":  # 0.599 must not read "0.60 is below 0.60"
            shown = f"{confidence:.4g}"
        reasons.append(
            f"classifier confidence {shown} is below the {config.min_confidence:.2f} threshold"
        )
    if config.review_urgent and priority is Priority.URGENT:
        reasons.append("priority is Urgent")
    if category in config.sensitive_categories:
        reasons.append(f"category {category} is configured as sensitive")
    if validator_findings:
        summary = "; ".join(f.message for f in validator_findings[:3])
        reasons.append(
            f"validator still has findings after {revision_rounds} revision round(s): {summary}"
        )
    if rework_requested:
        reasons.append("a reviewer asked for rework; the new draft needs their approval")
    return reasons
