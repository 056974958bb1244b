"""Offline classifier: the category with the strongest cues, and a confidence that says when the
rules cannot know.

The confidence is what the review policy reads (below 0.6 by default a person reviews), so it is
low whenever an answer sent without a person is likely to be wrong:
- the ticket is not in English (the cues are English; the reply would be too);
- it is plainly not a support request for this product, a developer's issue report, or a
  request for advice rather than help with a task or a problem;
- no cue matched, or only weak ones did (no cue that names the subject by itself);
- another category has a strong cue too, or its cues come close to the winner's.
"""

from typing import Final

from activities.providers.offline.cues import CUES
from activities.providers.offline.language import ENGLISH, NAMES, detect_language
from activities.providers.offline.scope import (
    asks_for_advice,
    looks_like_developer_issue,
    not_our_product,
)
from shared.agents import Category, Classification
from shared.tickets import Ticket

NO_CUE_CONFIDENCE: Final = 0.3
OTHER_LANGUAGE_CONFIDENCE: Final = 0.3
NOT_OUR_PRODUCT_CONFIDENCE: Final = 0.2
# Below the review threshold: a guess from weak cues, or a developer's report, is never sent alone.
WEAK_CUES_CEILING: Final = 0.5
DEVELOPER_ISSUE_CEILING: Final = 0.45
CONTESTED_CEILING: Final = 0.5
ADVICE_CEILING: Final = 0.5


def score_categories(text: str) -> dict[Category, float]:
    lowered = text.lower()
    return {
        category: sum(cue.weight for cue in cues if cue.pattern.search(lowered))
        for category, cues in CUES.items()
    }


def has_strong_cue(category: Category, text: str) -> bool:
    lowered = text.lower()
    return any(cue.strong and cue.pattern.search(lowered) for cue in CUES[category])


def _from_cues(ticket: Ticket) -> Classification:
    text = f"{ticket.subject}\n{ticket.body}"
    # The subject is the customer's own summary: a cue found there counts twice.
    whole, subject = score_categories(text), score_categories(ticket.subject)
    scores = {category: whole[category] + subject[category] for category in whole}
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (runner_up, second) = ranked[0], ranked[1]
    if top == 0:
        return Classification(
            category=Category.GENERAL,
            confidence=NO_CUE_CONFIDENCE,
            rationale="no category cue found; filed as General",
        )
    margin = (top - second) / top  # 1.0 when only one category matched
    strength = min(1.0, top / 5.0)  # more evidence, more confidence
    confidence = round(0.25 + 0.5 * margin + 0.24 * strength, 2)
    rationale = f"{best} cues scored {top:g}"
    if second > 0:
        rationale += f", ahead of {runner_up} ({second:g})"
    if not has_strong_cue(best, text):
        confidence = min(confidence, WEAK_CUES_CEILING)
        rationale += "; only weak cues"
    elif second > 0 and has_strong_cue(runner_up, text):
        # Each category has a cue that names its subject: two readings, a person picks one.
        confidence = min(confidence, CONTESTED_CEILING)
        rationale += f"; {runner_up} has a strong cue too"
    return Classification(category=best, confidence=confidence, rationale=rationale)


def _capped(result: Classification, ceiling: float, why: str) -> Classification:
    return Classification(
        category=result.category,
        confidence=min(result.confidence, ceiling),
        rationale=f"{why}; {result.rationale}"[:500],
    )


def classify(ticket: Ticket) -> Classification:
    text = f"{ticket.subject}\n{ticket.body}"
    result = _from_cues(ticket)
    language = detect_language(text)
    if language not in (ENGLISH, None):
        name = NAMES.get(language, language)
        why = f"written in {name}; the offline rules read English only"
        return _capped(result, OTHER_LANGUAGE_CONFIDENCE, why)
    if what := not_our_product(text):
        return Classification(
            category=Category.GENERAL,
            confidence=NOT_OUR_PRODUCT_CONFIDENCE,
            rationale=f"reads as {what}, not support for this product",
        )
    if looks_like_developer_issue(text):
        why = "reads as a developer's issue report (code, stack trace or issue template)"
        return _capped(result, DEVELOPER_ISSUE_CEILING, why)
    if asks_for_advice(text):
        why = "asks for advice or product information, which no bundled article answers"
        return _capped(result, ADVICE_CEILING, why)
    return result
