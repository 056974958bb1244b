"""Offline triage: priority from urgency cues in the text, adjusted by category and tier."""

import re
from typing import Final

from policy.escalation import escalation_cues
from shared.agents import Category, Classification, Priority, TriageResult
from shared.tickets import CustomerTier, Ticket

URGENT_CUES: Final = [
    r"(?<!non-)(?<!non )\burgent(ly)?\b",  # "non-urgent" is the opposite
    r"\basap\b",
    # Not a mail disclaimer's "please notify the sender immediately".
    r"(?<!the sender )(?<!notify us )\bimmediately\b",
    r"\bemergency\b",
    r"\boutage\b",
    r"\b(is|are|went|gone) down\b",
    r"\bdown for (all|every)",
    r"\bproduction\b.*\b(down|broken)",
    r"\ball (of )?(our )?users\b",
    r"\bsecurity (breach|incident)|\bdata breach|\bunauthori[sz]ed access|\bhacked\b"
    r"|\bcompromised\b|\bphishing\b",
    r"\bdata loss\b|\blost (all )?(our |my )?data\b",
    r"\bcritical\b",
]
HIGH_CUES: Final = [
    r"\bcan'?t (log ?in|login|sign in|access)|\bcannot (log ?in|login|sign in|access)",
    r"\blocked out\b",
    r"\bnot working\b|\bdoes ?n[o']?t work|\bstopped working",
    r"\berror\b|\bfail(ed|s|ing)?\b|\bcrash",
    r"\bcharged twice\b|\bdouble[- ]charg|\bovercharg",
    r"\bblocked\b|\bblocking\b",
    r"\bdeadline\b|\btoday\b|\btonight\b",
]
LOW_CUES: Final = [
    r"\bquestion\b|\bwondering\b|\bcurious\b",
    r"\bno rush\b|\bwhen you (get|have) a chance",
    r"\bjust (fyi|wanted)|\bfeedback\b|\bsuggest",
    r"\bwould be (nice|great)|\bfeature\b",
]


# "not urgent", "no emergency", "isn't critical": a cue right after a negation does not count.
NEGATION = re.compile(r"\b(not|no|isn'?t|aren'?t|never)\s+(\w+\s+)?$")


def _matches(patterns: list[str], text: str) -> list[str]:
    cues = []
    for pattern in patterns:
        for found in re.finditer(pattern, text):
            before = text[max(0, found.start() - 24) : found.start()]
            if not NEGATION.search(before):
                cues.append(found.group(0))
                break
    return cues


# Several questions, or a long account of a problem: worth a plan and specialist workers.
COMPLEX_MIN_QUESTIONS: Final = 3
COMPLEX_MIN_WORDS: Final = 180


def is_complex(ticket: Ticket) -> bool:
    # A run of question marks ("???") is one question.
    return (
        len(re.findall(r"\?+", ticket.body)) >= COMPLEX_MIN_QUESTIONS
        or len(ticket.body.split()) >= COMPLEX_MIN_WORDS
    )


def triage(ticket: Ticket, classification: Classification) -> TriageResult:
    # A typographic apostrophe (U+2019, as phones and word processors write "can't") reads as "'".
    text = f"{ticket.subject}\n{ticket.body}".lower().replace("\u2019", "'")
    # A person's cues are not negated by what comes before them: "if this is not refunded my
    # lawyer will ..." read "not refunded" as "not my lawyer", and the threat went out unread
    # (a cue said in the negative costs a review, no more).
    escalate = escalation_cues(text)
    urgent, high, low = (_matches(p, text) for p in (URGENT_CUES, HIGH_CUES, LOW_CUES))
    if escalate:
        priority, cues, why = Priority.URGENT, escalate, "a person must answer"
    elif urgent:
        priority, cues, why = Priority.URGENT, urgent, "urgency cues"
    elif high:
        priority, cues, why = Priority.HIGH, high, "a customer is blocked"
    elif low or classification.category is Category.FEATURE_REQUEST:
        priority, cues, why = Priority.LOW, low, "no impact today"
    else:
        priority, cues, why = Priority.MEDIUM, [], "no urgency cue"
    rationale = f"{priority} ({why})"
    # Paying tiers move up one level, but never to Urgent on tier alone.
    bump = {CustomerTier.ENTERPRISE: 1, CustomerTier.PREMIUM: 1}.get(ticket.customer_tier, 0)
    if bump and priority in (Priority.LOW, Priority.MEDIUM):
        priority = list(Priority)[priority.rank + bump]
        rationale += f"; raised to {priority} for a {ticket.customer_tier} customer"
    complex_ticket = is_complex(ticket)
    if complex_ticket:
        rationale += "; complex (several questions or a long account)"
    return TriageResult(
        priority=priority, rationale=rationale, cues=cues[:20], complex=complex_ticket
    )
