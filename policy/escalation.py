"""What a person must answer, whatever the ticket's category: the cues the offline triage
escalates on, and that trimming keeps from the middle it cuts out of a long ticket (pure: the
offline agents and workflow code use it). Matched against the text in lower case, with
typographic apostrophes read as "'".

The ticket workflow reads ``escalation_cues`` where no triage ranked a ticket, and where a
budget stop ends a restarted one before any call (workflows/ticket_stages.py and ticket.py,
patches fallback-heeds-escalation and start-stop-heeds-escalation), each as "cues found and the
patch asked": cues may be added (a text that had one still has one, so a history that asked
the patch asks it again), never taken away or narrowed without a patch of their own, which
would change those decisions on replay (docs/versioning.md;
tests/unit/test_escalation_cues.py keeps the released cues' examples matching).
"""

import re
from typing import Final

from policy.internal_text import as_read

# Who gets into an account that is not theirs.
_INTRUDER: Final = r"(someone|somebody|a stranger|an unknown person|a hacker|hackers)"
# What a person must answer, whatever the ticket's category: a customer who says someone else
# has their account or made a payment they did not, or who speaks of lawyers and courts. A
# template's promise is the wrong answer to each, so they are Urgent (reviewed by default:
# review_urgent) and the rationale says why. Written from the support domain, as the other cues.
ESCALATION_CUES: Final = [
    # Account takeover.
    r"\b"
    + _INTRUDER
    + r" (else )?(has |had |have )?((logged|signed|broke|hacked) in(to)?|got into)\b"
    r"|\b(took|taken|taking) over (my|our) account\b(?! manage)"
    r"|\bhacked (into )?(my|our) account\b"
    r"|\b(my|our) account (has been|had been|was|got|is) (taken over|hacked|compromised"
    r"|hijacked)\b"
    r"|\bhijack(ed|ing)? (my|our) account\b"
    # "Someone accessed my account and changed my password": the reply it got was "use Forgot
    # password", whose link goes to an address the intruder may have changed.
    r"|\b" + _INTRUDER + r" (else )?(has |had |have )?(accessed|used|entered|changed|reset)\b"
    r"[^.?!\n]{0,30}"
    r"\b(my|our) (account|password|e-?mail( address)?)\b"
    # "someone used my credit card" (not "can someone reset my card PIN").
    r"|\b" + _INTRUDER + r" (else )?(has |had |have )?used (my|our) (credit |debit )?card\b"
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
    # "charges on my card that I did not make", "these charges are not mine" (a review,
    # 2026-12-07: both were answered with the duplicate-charge template).
    # As a relative clause only: "the payment is late because I didn't make it in time" and
    # "we never made it to the hotel" are no cue.
    r"|\b(charge|payment|purchase|transaction)s?\b[^.?!\n]{0,40}\b(that|which) (i|we) "
    r"(never|did ?n'?t|did not) (make|made)\b(?! it\b)"
    r"|\b(charge|payment|purchase|transaction)s? (is|are|was|were) not (mine|ours)\b(?! to\b)"
    # Not a question about fraud checks ("how does your fraud detection work").
    r"|\bfraud(ulent(ly)?)?\b(?! (detection|prevention|protection|checks?)\b)"
    r"|\bidentity theft\b|\bchargebacks?\b",
    # Legal threats.
    r"\blegal (action|steps|proceedings)\b|\b(my|a|an|our) (lawyer|attorney|solicitor)s?\b"
    r"|\blawsuit\b|\bsue (you|your company|them)\b|\btake (you|this|it) to court\b"
    r"|\btake [^.?!\n]{0,30}\bto court\b"
    # "... or I will sue", "I am suing", "see you in court", small claims, a disputed charge.
    r"|\b(will|'ll|going to|gonna|intend to|plan to|want to|would) sue\b|\bsuing\b"
    r"|\b(see you|you) in court\b"
    r"|\bsmall claims\b|\bdispute (the|this|a|my) (charge|payment|transaction)\b",
    # The same in the other languages the offline agents recognise (German, Spanish, French,
    # Portuguese, Italian, Dutch): lawyers, legal steps, fraud.
    # ("betrug" is also "amounted to": "die Rechnung betrug 49 Euro".)
    r"\b(rechts)?anwalt\b|\brechtliche schritte|\bbetr(ü|ue)ger|\bbetrugs|\babogad[oa]\b|\bavocat\b"
    r"|\badvogad[oa]\b|\bacciones legales|\bpoursuites\b|\bfraude\b"
    r"|\bavvocat[oa]\b|\bazioni legali|\btruffa\b|\bfrode\b|\badvocaat\b|\bjuridische stappen"
    # Their plurals and feminine forms; German threats and takeovers in their own words.
    r"|\b(rechts)?anw(ä|ae)lt(in|innen|e|en)\b|\babogad[oa]s\b|\bavocat(e|s|es)\b"
    r"|\badvogad[oa]s\b|\bavvocat[ie]\b|\badvocaten\b"
    r"|\bverklagen\b|\bvor gericht\b|\bgehackt\b|\bnicht autorisiert",
]
# A cue may be wrapped across lines (plain-text mail at 72 columns): "... my\nlawyer" was no
# cue. So the text is also read with every run of whitespace as one space, but only after the
# text as written: read that way alone, "fraud\ndetection" and "account\nmanagement" fell into
# the negative lookaheads below and were no cue any more, which a history recorded with them
# (a patch asked because they were) could not replay (a review, 2026-12-07).
_SPACES: Final = re.compile(r"\s+")


def escalation_lines(text: str, most: int, chars: int) -> list[str]:
    """The first ``most`` lines of ``text`` holding an escalation cue, each cut to ``chars``."""
    found: list[str] = []
    for line in text.splitlines():
        read = line.lower().replace("\u2019", "'")
        if line.strip() and any(re.search(cue, read) for cue in ESCALATION_CUES):
            found.append(line.strip()[:chars])
            if len(found) == most:
                break
    return found


def escalation_cues(text: str) -> list[str]:
    """The escalation cues in ``text``, each cue's first match: what makes a ticket one a person
    must answer (the offline triage's Urgent, and the floor under a model's triage). Not negated
    by what comes before them: "if this is not refunded my lawyer will ..." is a threat."""
    read = text.lower().replace("\u2019", "'")
    spaced = _SPACES.sub(" ", read)
    # Then as a reader sees it (policy/internal_text.py as_read: a soft hyphen or a zero-width
    # space inside "law\u00adyer", a no-break space, U+02BC for an apostrophe), after the
    # readings before it, so a cue found in one of those is still found (readings only ever
    # widen: docs/versioning.md). Found in none of them, "my law\u00adyer" was no cue (a
    # review, 2026-12-07).
    seen = _SPACES.sub(" ", as_read(text).lower())
    return [
        found.group(0)
        for cue in ESCALATION_CUES
        if (
            found := re.search(cue, read)
            or (re.search(cue, spaced) if spaced != read else None)
            or (re.search(cue, seen) if seen not in (read, spaced) else None)
        )
    ]
