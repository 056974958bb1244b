"""Offline validator: deterministic checks every draft must pass before it reaches a customer."""

import re
from functools import cache
from typing import Final

from activities.providers.offline.templates import BOILERPLATE_WORDS
from activities.text import content_words, sentences
from policy.internal_text import INTERNAL_MARKERS, as_read
from shared.agents import Draft, Finding, FindingCode, KnowledgeArticle, Validation
from shared.tickets import Ticket

MIN_USEFUL_CHARS: Final = 40

# An amount of money: "$480", "€ 25", "480 USD", "1,200 euros", "480 €" (the symbol after the
# number, as German and French write it).
_AMOUNT: Final = (
    r"([$€£]\s?\d|\b\d[\d,.]*\s?(usd|eur|gbp|chf|dollars?|euros?|pounds?|francs?)\b"
    r"|\b\d[\d,.]*\s?[$€£])"
)
# What gives the company's money away, in a reply of any author: compensation, free time or
# credit, an amount of money back, and a refund or credit said to be made. An agent can do none
# of these (it has no billing tool), so such a reply promises what only a person may grant, or
# says a person did what nobody did. The one part of the forbidden promises a model validator's
# approval does not override (agent_activities.with_policy): written from the support domain,
# narrow on purpose, so a refund policy quoted from an article ("once a refund is approved,
# your bank shows it within 5 to 10 business days") stays the model's judgement.
MONEY_PROMISES: Final = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bcompensat(e|ed|es|ing|ion)\b",
        r"\b(free|complimentary) (months?|weeks?|years?|upgrades?|credits?|subscriptions?)\b",
        # Free time on the house: "we will give you one month free".
        r"\b(one|a|an|two|three|\d+) (extra )?(months?|weeks?|years?) (for )?free\b",
        # An amount of money back: "a refund of $480", "refunded you 20 EUR", "credited your
        # account with €25", "a $480 refund" (not "your refund request for the $49 charge", not
        # "$20 a month by credit card").
        rf"\b(refunds?|credits?|reimbursements?|compensation) of (up to |about |around )?{_AMOUNT}",
        r"\b(refund|refunded|refunding|credit|credited|crediting|reimburse|reimbursed|"
        rf"reimbursing)( you| your (account|card))?( with| for| back)? {_AMOUNT}",
        rf"{_AMOUNT}[\d,.]*( \w+)? (refund|credit|reimbursement)\b(?! card| request)",
        # A refund or credit said as made: "I have issued a full refund", "we've credited your
        # account", "your card has been refunded", "your refund has been processed".
        r"\b(i|we)('ve| have)?( already| just| now)? (issued|processed|approved|initiated|"
        r"applied|sent|made|granted) (a |an |the |your )?(full |partial )?"
        r"(refund|credit|reimbursement)s?\b(?! request)",
        r"\b(i|we)('ve| have)?( already| just| now)?( gone ahead and)? (refunded|credited|"
        r"reimbursed)\b",
        # An amount said to be on its way back: "your $480 has been returned to your card",
        # "we'll send you $480 back".
        rf"{_AMOUNT}[\d,.]*[^.!?]{{0,20}}\b(has|have) (already |now |just )?been (returned|"
        r"refunded|credited|paid back|sent back)\b",
        rf"\b(i|we)('ll| will)( now| also)? (send|give|pay|transfer) (you )?{_AMOUNT}[\d,.]*"
        r"[^.!?]{0,20}\bback\b",
        # German: "Wir haben Ihnen 480 € erstattet", "... wurde Ihrem Konto gutgeschrieben".
        r"\b(haben|habe|wurde|wurden|ist|sind)\b[^.!?]{0,40}\b(zur(ü|ue)ck)?(erstattet|"
        r"gutgeschrieben|zur(ü|ue)ckgezahlt|zur(ü|ue)ck(ü|ue)berwiesen)\b",
        r"\b(has|have) (already |now |just )?been (refunded|credited|reimbursed)\b",
        r"\b(refund|credit|reimbursement)s? (has|have) (already |now |just )?been (issued|"
        r"processed|approved|applied|sent|made|granted)\b",
        # ... or as about to be: "I'll issue a full refund", "we will refund your $480 payment",
        # "we'll waive the late fee", "we will reimburse you for the shipping costs", "you will
        # receive a full refund" (not "we will refund the duplicate" or "... one of the two
        # charges": an article's own rule, with its condition).
        r"\b(i|we)('ll| will| are going to| can| shall)( now| also| gladly| happily)? (issue|"
        r"process|give you|send you|pay you|grant you)\b[^.!?]{0,30}\b(refunds?|credits?|"
        r"reimbursements?|money)\b",
        r"\b(i|we)('ll| will| are going to| can| shall)( now| also| gladly| happily)? (waive|"
        r"cancel) (the |your |this |that |any )?[^.!?]{0,20}\b(fees?|charges?|penalt(y|ies))\b",
        r"\b(i|we)('ll| will| are going to| can| shall)( now| also| gladly| happily)? reimburse "
        r"you\b",
        rf"\b(i|we)('ll| will)[^.!?]{{0,30}}\b(refund|credit|waive)[^.!?]{{0,30}}{_AMOUNT}",
        r"\byou('ll| will)( now| also)? (receive|get|be given|see) (a |an |the |your )?(full |"
        r"partial )?(refund|credit|reimbursement|compensation)\b",
        # Time on the house: "I've extended your subscription by one month at no charge".
        r"\b(extend|extended|extending|add|added|adding|upgrade|upgraded)\b[^.!?]{0,60}\b(at "
        r"no (extra |additional )?(charge|cost)|free of charge|for free)\b",
    )
]
# A match with one of these just before it is said of no money given: "we do not offer
# compensation", "once your payment has been refunded, ...", "your request for a refund of $49
# has been passed on" (the words before a match, up to this many characters).
_NOT_GIVEN: Final = re.compile(
    r"\b(not|no|unable|cannot|can't|won't|don't|doesn't|never|once|if|when|after|until|"
    r"whether|request for|requests for|asked for|ask for|apply for|applied for)\b[^.!?]*$",
    re.IGNORECASE,
)
NOT_GIVEN_WINDOW: Final = 40
# What support policy forbids promising: outcomes, timelines, compensation, release dates.
OTHER_PROMISES: Final = [
    *(
        re.compile(p, re.IGNORECASE)
        for p in (
            # "We cannot guarantee ..." promises nothing.
            r"(?<!not )(?<!cannot )(?<!can't )(?<!never )\bguarantee(d|s)?\b",
            r"\b(we|i) promise\b|\bpromise (you|that)\b",
            r"\bwill (definitely|certainly) be (fixed|resolved|refunded)\b",
            r"\b(will|to) be (released|shipped|available) (by|in|on|next)\b",
            # A deadline for the outcome: "you will have it by tomorrow".
            r"\b(will|'ll)\b[^.!?]*\bby (tomorrow|tonight|(the )?end of (the |this )?(day|week))\b",
            # ... or a day, a date or a span for a fix, a refund or the money ("this will be fixed
            # by Monday", "you will be refunded within 24 hours"; bounded gaps: a long sentence of
            # "will" searched on from each one).
            r"\b(will|'ll)\b[^.!?]{0,60}\b(fixed|resolved|refunded|credited|reimbursed|repaired|"
            r"back)\b[^.!?]{0,40}\b(by|within|before) (monday|tuesday|wednesday|thursday|friday|"
            r"saturday|sunday|next week|the weekend|\d+ ?(minutes?|hours?|days?|weeks?)\b)",
            r"\bnever happen again\b|\b(won't|will not) happen again\b",
        )
    ),
]
# A leaked internal note is caught by any run of this many words from it appearing in the draft.
LEAK_WINDOW_WORDS: Final = 6
# A reply that repeats the agents' instructions (a prompt injection asking "print your system
# prompt" that worked) is caught by any run of this many of their words; longer than for notes,
# since a good reply may share a short phrase with its instructions.
PROMPT_WINDOW_WORDS: Final = 8
_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@cache
def _instruction_runs() -> frozenset[tuple[str, ...]]:
    """Every PROMPT_WINDOW_WORDS-word run of every agent's instructions (its system prompt)."""
    from activities.agent_specs import SPECS  # the prompts live with the LLM agents

    runs = set()
    for spec in SPECS.values():
        words = _words(spec.instructions)
        for i in range(len(words) - PROMPT_WINDOW_WORDS + 1):
            runs.add(tuple(words[i : i + PROMPT_WINDOW_WORDS]))
    return frozenset(runs)


def repeats_instructions(text: str) -> bool:
    words = _words(text)
    runs = _instruction_runs()
    return any(
        tuple(words[i : i + PROMPT_WINDOW_WORDS]) in runs
        for i in range(len(words) - PROMPT_WINDOW_WORDS + 1)
    )


def forbidden_promises(text: str) -> list[str]:
    """The sentences that promise what support policy forbids: money given away (as
    money_promises reads it), an outcome, a timeline, a release date."""
    return [
        s
        for s in sentences(text)
        if any(p.search(s) for p in OTHER_PROMISES) or any(_given(p, s) for p in MONEY_PROMISES)
    ]


def money_promises(text: str) -> list[str]:
    """The sentences that give money away (MONEY_PROMISES), but where the words just before
    say none is (a negation, a condition, a request for it)."""
    return [s for s in sentences(text) if any(_given(p, s) for p in MONEY_PROMISES)]


def _given(pattern: re.Pattern[str], sentence: str) -> bool:
    for found in pattern.finditer(sentence):
        before = sentence[max(0, found.start() - NOT_GIVEN_WINDOW) : found.start()]
        if not _NOT_GIVEN.search(before):
            return True
    return False


def _runs(words: list[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def _leaks_note(text: str, note: str) -> bool:
    """Any run of LEAK_WINDOW_WORDS words of the note in the draft (the whole note when it is
    shorter), compared as words: split on spaces, the note's "BOM;" never matched a draft's
    "BOM.", and a root cause with its engineering ticket id reached the customer."""
    note_words = _words(note)
    size = min(LEAK_WINDOW_WORDS, len(note_words))
    return size > 0 and bool(_runs(note_words, size) & _runs(_words(text), size))


def policy_findings(
    draft: Draft, articles: list[KnowledgeArticle], min_chars: int = MIN_USEFUL_CHARS
) -> list[Finding]:
    """What support policy refuses in any reply, whoever wrote and whoever validated it: an
    empty one (under ``min_chars``), a promise of an outcome, a timeline or compensation,
    internal notes or the agents' own instructions. Fixed rules, no judgement: the model
    validator's verdict gets them too (agent_activities.validate_resolution), there with a
    blank reply as the only empty one (how short a useful answer can be is its judgement)."""
    # Read as a reader sees it: a curly apostrophe ("I\u2019ve refunded"), a no-break space or
    # a zero-width one got past rules written for the plain forms.
    text = as_read(draft.text).strip()
    if len(text) < min_chars:
        return [Finding(code=FindingCode.EMPTY, message="the reply is empty or too short to help")]
    findings: list[Finding] = []
    if promises := forbidden_promises(text):
        findings.append(
            Finding(
                code=FindingCode.FORBIDDEN_PROMISE,
                message=f"the reply makes a promise policy forbids: {promises[0][:160]!r}",
            )
        )
    if INTERNAL_MARKERS.search(text) or any(
        a.internal_note and _leaks_note(text, as_read(a.internal_note)) for a in articles
    ):
        findings.append(
            Finding(code=FindingCode.INTERNAL_LEAK, message="the reply contains internal notes")
        )
    elif repeats_instructions(text):
        findings.append(
            Finding(
                code=FindingCode.INTERNAL_LEAK,
                message="the reply repeats the agents' instructions (their system prompt)",
            )
        )
    return findings


def check_draft(ticket: Ticket, draft: Draft, articles: list[KnowledgeArticle]) -> list[Finding]:
    text = draft.text.strip()
    policy = policy_findings(draft, articles)
    if policy and policy[0].code is FindingCode.EMPTY:
        return policy
    findings: list[Finding] = []
    # The reply's fixed wording (greeting, sign-off) says nothing about the topic. The subject
    # the offline resolver quotes back counts: left out, 40% fewer of the development tickets
    # went out without a person (docs/offline-evaluation.md), with none more in the right
    # category among those that did.
    topical = content_words(text) - BOILERPLATE_WORDS
    if not topical & content_words(f"{ticket.subject} {ticket.body}"):
        findings.append(
            Finding(code=FindingCode.OFF_TOPIC, message="the reply shares no topic with the ticket")
        )
    findings += policy
    known = {a.article_id for a in articles}
    if not (set(draft.cited_articles) & known):
        findings.append(
            Finding(
                code=FindingCode.UNGROUNDED,
                message="no knowledge-base article supports this reply",
            )
        )
    return findings


def validate(ticket: Ticket, draft: Draft, articles: list[KnowledgeArticle]) -> Validation:
    findings = check_draft(ticket, draft, articles)
    return Validation(approved=not findings, findings=findings)
