"""Offline resolver: a templated reply grounded in the knowledge base.

It fixes what it can from validator findings (it drops the quoted subject when that carried a
forbidden promise or internal text); what it cannot fix stays a finding, and after the last
revision round a person takes over. A reviewer's notes choose which article leads the reply
(reviewer_notes.py); their words never go to the customer.
"""

import re
from typing import Final

from activities.knowledge_base import KnowledgeBase
from activities.providers.offline.reviewer_notes import articles_for_notes
from activities.providers.offline.templates import GREETING, OPENING_PREFIX, SIGN_OFF, TOPIC
from shared.agents import Draft, DraftRequest, FindingCode, Priority

# A subject that carries a secret is not quoted back: a card number (13 to 19 digits, spaced or
# not, starting as the card networks' numbers do and passing their check digit: order numbers
# are as long), a card's code, or a password given after ":" or "=" or said ("is ...").
# Quoted, the reply carried a card number, its expiry and CVV verbatim, and went out with no
# finding.
DIGIT_RUN: Final = re.compile(r"\d(?:[ -]?\d){12,18}(?!\d)")
# Visa, Mastercard, American Express, Discover and the like: 3, 4, 5 or 6 first.
CARD_NETWORK_FIRST_DIGITS: Final = "3456"
SECRET_WORDS: Final = re.compile(
    r"\b(cvv|cvc|cvv2|security code)\b\W{0,3}\d{3,4}\b"
    r"|\b(password|passwort|passcode|pin|pw|pwd)\s*[:=]\s*\S"
    # ... or said in words: "my password is Hunter2!", "mein Passwort ist ...", "the pin was
    # 1234" (quoted back and sent with no review: a review, 2026-12-07).
    r"|\b(password|passwort|passcode|pin|pw|pwd)\s+(is|was|ist|war|lautet)\s+\S",
    re.IGNORECASE,
)


def _luhn(digits: str) -> bool:
    total = 0
    for place, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if place % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def carries_a_secret(text: str) -> bool:
    if SECRET_WORDS.search(text):
        return True
    for found in DIGIT_RUN.finditer(text):
        digits = re.sub(r"[ -]", "", found.group(0))
        if digits[0] in CARD_NETWORK_FIRST_DIGITS and _luhn(digits):
            return True
    return False


def draft(request: DraftRequest) -> Draft:
    ticket = request.ticket
    flagged = {f.code for f in request.findings}
    quoted_subject = f'"{ticket.subject}"'
    # Quoting the subject shows the customer we read them, unless the validator found that the
    # quote carried a forbidden promise or internal text (then it stays out of later revisions).
    quote_dropped = (
        request.previous_draft is not None and quoted_subject not in request.previous_draft
    )
    secret = carries_a_secret(ticket.subject)
    if (
        quote_dropped
        or secret
        or flagged & {FindingCode.FORBIDDEN_PROMISE, FindingCode.INTERNAL_LEAK}
    ):
        opening = f"{OPENING_PREFIX} your {TOPIC[request.classification.category]}."
    else:
        opening = f"{OPENING_PREFIX} {quoted_subject}."
    paragraphs = [GREETING, opening]
    cited: list[str] = []
    articles = articles_for_notes(request.reviewer_notes, request.articles, KnowledgeBase.bundled())
    if articles:
        best = articles[0]
        paragraphs.append(best.answer)
        cited.append(best.article_id)
        for extra in articles[1:2]:
            paragraphs.append(f"You may also find this useful: {extra.title}. {extra.answer}")
            cited.append(extra.article_id)
    else:
        paragraphs.append(
            "We could not find a documented answer for this yet, so a specialist will look into it "
            "and follow up. It will help them if you reply with any error messages you saw, when "
            "it started, and the steps that lead to it."
        )
    if request.priority in (Priority.HIGH, Priority.URGENT):
        paragraphs.append(
            f"We have marked your request as {request.priority} priority "
            "and are following it closely."
        )
    paragraphs.append(SIGN_OFF)
    return Draft(text="\n\n".join(paragraphs), cited_articles=cited)
