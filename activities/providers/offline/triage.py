"""Offline triage: priority from urgency cues in the text, adjusted by category and tier."""

import re
from typing import Final

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
# What a person must answer, whatever the ticket's category: a customer who says someone else
# has their account or made a payment they did not, or who speaks of lawyers and courts. A
# template's promise is the wrong answer to each, so they are Urgent (reviewed by default:
# review_urgent) and the rationale says why. Written from the support domain, as the other cues.
ESCALATION_CUES: Final = [
    # Account takeover.
    r"\bsomeone (else )?(has |had )?((logged|signed|broke|hacked) in(to)?|got into)\b"
    r"|\b(took|taken|taking) over (my|our) account\b(?! manage)"
    # "Someone accessed my account and changed my password": the reply it got was "use Forgot
    # password", whose link goes to an address the intruder may have changed.
    r"|\bsomeone (else )?(has |had )?(accessed|used|entered|changed|reset)\b[^.?!\n]{0,30}"
    r"\b(my|our) (account|password|e-?mail( address)?)\b"
    r"|\bchanged (my|our|the) (password|e-?mail( address)?|phone number) without "
    r"(my|our|asking|telling|permission|consent)\b",
    # Payments the customer did not make ("didn't make the payment" is a late one: not here).
    r"\b(did ?n'?t|did not|never|don'?t|do not) (authori[sz]|approv|recogni[sz])(e|ed)\b"
    r"[^.?!\n]{0,40}\b(charge|payment|purchase|order|transaction)s?\b"
    r"|\b(charge|payment|purchase|transaction)s?\b[^.?!\n]{0,40}\b(i|we) (never|did ?n'?t"
    r"|did not|don'?t|do not) (authori[sz]|approv|recogni[sz])(e|ed)\b"
    r"|\b(did ?n'?t|did not|never) (make|place) (this|these|that|those|any) "
    r"(charge|purchase|transaction|order)s?\b"
    r"|\bunauthori[sz]ed (charge|payment|purchase|transaction)s?\b"
    # Not a question about fraud checks ("how does your fraud detection work").
    r"|\bfraud(ulent)?\b(?! (detection|prevention|protection|checks?)\b)"
    r"|\bidentity theft\b|\bchargebacks?\b",
    # Legal threats.
    r"\blegal (action|steps|proceedings)\b|\b(my|a|our) (lawyer|attorney|solicitor)s?\b"
    r"|\blawsuit\b|\bsue (you|your company|them)\b|\btake (you|this|it) to court\b"
    # "... or I will sue", "I am suing", "see you in court", small claims, a disputed charge.
    r"|\b(will|'ll|going to|gonna) sue\b|\bsuing\b|\b(see you|you) in court\b"
    r"|\bsmall claims\b|\bdispute (the|this|a|my) (charge|payment|transaction)\b",
    # The same in the other languages the offline agents recognise (German, Spanish, French,
    # Portuguese, Italian, Dutch): lawyers, legal steps, fraud.
    # ("betrug" is also "amounted to": "die Rechnung betrug 49 Euro".)
    r"\b(rechts)?anwalt\b|\brechtliche schritte|\bbetr(ü|ue)ger|\bbetrugs|\babogad[oa]\b|\bavocat\b"
    r"|\badvogad[oa]\b|\bacciones legales|\bpoursuites\b|\bfraude\b"
    r"|\bavvocat[oa]\b|\bazioni legali|\btruffa\b|\bfrode\b|\badvocaat\b|\bjuridische stappen",
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


def _matches(patterns: list[str], text: str, negatable: bool = True) -> list[str]:
    cues = []
    for pattern in patterns:
        for found in re.finditer(pattern, text):
            before = text[max(0, found.start() - 24) : found.start()]
            if not negatable or not NEGATION.search(before):
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
    escalate = _matches(ESCALATION_CUES, text, negatable=False)
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
