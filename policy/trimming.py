"""Input trimming: what the model never needs to read (pure: activities and workflows use it).

Greetings, sign-offs and signatures, mail disclaimers at the end, quoted earlier messages and the
middle of over-long bodies are cut before any provider sees a ticket. Every agent reads the
ticket, so a saving here is
multiplied by the number of agent calls. The cut is reported as ``trimmed_tokens`` in each call's
usage and summed per ticket (an estimate: characters / 4, see ``policy.text_budget``).

What the customer wrote is never cut on a guess: the earlier thread only at a genuine quote
marker (``policy.quoted_thread``), a signature or sign-off only when what follows it looks like
one (a few short lines), and ``>`` lines only where they trail the message.
"""

import re
from dataclasses import dataclass
from typing import Final

from policy.escalation import escalation_lines
from policy.quoted_thread import quoted_thread_start
from policy.text_budget import estimate_tokens, fit_to_tokens

# A ticket body longer than this (in estimated tokens) keeps its head and tail only.
DEFAULT_BODY_TOKEN_BUDGET: Final = 1_500

# A line that is only a greeting ("Hi team,", "Dear Sir or Madam,", "Hello Ana!"), not "Hi, my
# app crashes" nor "Hi my app crashes": after the greeting word only words that address someone
# (a name, capitalized; "team", "support", ...), or the customer's words went with the line.
GREETING = re.compile(
    r"^\s*(?i:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings)\b"
    r"(\s++((?i:team|support|there|all|everyone|folks|sir|or|madam|and|the|customer|service|"
    r"care|desk)\b|[A-Z][\w'.-]*+)){0,4}\s*+[,!.:]?\s*+$",
)
# Possessive quantifiers (``*+``, ``++``): a word or a run of spaces is taken whole, never split
# to try again. With plain ones a line of one long word under a sign-off word ("thanks
# aaaa...?") took time growing with the cube of its length (7 s at 1,000 characters, hours at the
# body's 20,000) while holding the interpreter: the worker's event loop, its heartbeats and its
# workflows' tasks stopped with it. The sign-off's words are now read in Python (``_sign_off``).
SIGN_OFF_WORD = re.compile(
    r"^\s*+(thanks|thank you|many thanks|thanks in advance|regards|best|best regards|"
    r"kind regards|cheers|sincerely|warm regards|br|"
    # German, French, Spanish, Portuguese, Italian: the common closings.
    r"viele grüße|viele grüsse|mit freundlichen grüßen|mit freundlichen grüssen|"
    r"freundliche grüße|beste grüße|liebe grüße|lg|vg|mfg|danke|vielen dank|"
    r"cordialement|bien cordialement|merci|saludos|un saludo|atentamente|atenciosamente|"
    r"obrigado|obrigada|cumprimentos|grazie|cordiali saluti|distinti saluti)\b(.*+)$",
    re.IGNORECASE,
)
# After the sign-off word, at most this many words, each a courtesy ("a lot", "for your
# patience") or part of a name (Title-case, or a particle: "Ana de Souza"): "Thanks, please
# refund me" and "Thanks, URGENT PLEASE CALL ME" are the customer's (a review, 2026-12-07).
SIGN_OFF_MAX_WORDS: Final = 5
# fmt: off
COURTESY_WORDS: Final = frozenset({
    "a", "lot", "lots", "so", "much", "very", "again", "in", "advance", "for", "your", "you",
    "all", "the", "help", "support", "time", "everyone", "kindly", "mate", "guys", "team",
    "wishes", "and", "regards", "best", "kind", "patience", "understanding",
})
NAME_PARTICLES: Final = frozenset({
    "de", "da", "das", "do", "dos", "du", "des", "del", "della", "la", "le", "van", "von", "der",
    "den", "ten", "ter", "y", "e", "of", "and", "&",
})
# fmt: on
WORD_EDGES: Final = ",.!;:()\"'"


def _title(word: str) -> bool:
    """A name's word: a capital then lowercase ("Tom", "Élodie", "McKay"), or an initial ("T.");
    not a shouted word ("URGENT")."""
    return word[:1].isupper() and (len(word) == 1 or any(c.islower() for c in word[1:]))


def _sign_off(line: str) -> bool:
    found = SIGN_OFF_WORD.match(line)
    if found is None:
        return False
    words = [w.strip(WORD_EDGES) for w in found.group(2).split()]
    words = [w for w in words if w]
    return len(words) <= SIGN_OFF_MAX_WORDS and all(
        w.lower() in COURTESY_WORDS or w.lower() in NAME_PARTICLES or _title(w) for w in words
    )


SIGNATURE_DELIMITER = re.compile(r"^--\s*$")
# "Sent from my iPhone" and its translations, as the message's last line.
# A device or an app's name after it, four words at most ("Sent from Yahoo Mail for iPhone"): a
# clause after it ("... my iPad because the iPhone app crashes") is the customer's.
MOBILE_SIGNATURE = re.compile(
    r"^\s*(sent from my|sent from|von meinem|envoyé de mon|enviado desde mi|enviado do meu|"
    r"inviato da)(\s++[\w.-]++){1,4}\s*+$",
    re.IGNORECASE,
)
# A sign-off only counts near the end; "Thanks for the quick fix" in the middle is content.
SIGN_OFF_WINDOW_LINES: Final = 8
# After "--" a signature is a few lines (the usenet convention is four); more is content.
SIGNATURE_MAX_LINES: Final = 10
# After a sign-off only a name block may follow: a few short lines, no postscript, no question.
NAME_BLOCK_MAX_LINES: Final = 4
NAME_BLOCK_MAX_WORDS: Final = 8
# ... nor a line longer than this: no name, title or phone number is. (REFERENCE searches from
# every keyword to the end of its run of word characters: a line of "id-id-id-..." as one word
# took time growing with the square of its length, 9 s at 20,000, holding the interpreter.)
NAME_BLOCK_MAX_CHARS: Final = 200
POSTSCRIPT = re.compile(r"^\s*p\.?\s?s\b", re.IGNORECASE)
# A signature's contact line, the whole line: an address, a web site or a phone number, after
# an optional label ("Tel:", "E-mail:"). Anywhere in a line it took the customer's "Please
# refund €149.99 by Friday" and "It breaks on https://app.example.com/reports" for one.
CONTACT = re.compile(
    r"\s*+((tel|phone|mobile|mob|cell|fax|e-?mail|mail|web|site|www)\.?\s*+:?\s*+)?"
    r"(\+?[\d\s()./-]{5,}|[^\s@]++@[^\s@]++|(https?://|www\.)\S++)\s*+",
    re.IGNORECASE,
)
# A line under a sign-off that gives the support team something to look up (an order, an
# account, an invoice number): the customer's words, not a signature ("Order ID: 98765").
REFERENCE = re.compile(
    r"\b(order|account|invoice|ticket|customer|reference|ref|booking|subscription|case|"
    r"contract|tracking|serial|id)\b\W{0,3}(no\.?|number|nr\.?|id|#)?\W{0,3}[\w-]*\d"
    r"|#\s?\d{3,}",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Trimmed:
    text: str
    removed_tokens: int


def _inline_replies(after: list[str]) -> list[str]:
    """The customer's own lines among a ``>``-quoted thread below its marker (answers written
    between the quoted lines, "see my answers below"), when the thread is quoted that way; none
    for a thread quoted whole (an Outlook header block's earlier message is not ``>``-quoted,
    and every line of it is the earlier thread)."""
    first = next((line for line in after if line.strip()), None)
    if first is None or not first.lstrip().startswith(">"):
        return []
    return [line for line in after if not line.lstrip().startswith(">")]


def _drop_quoted(lines: list[str]) -> list[str]:
    """Cut the earlier thread at its quote marker, keeping the customer's replies written
    between its ``>`` lines (cut with it, "The March one. But the app crashes and we lost our
    data" below a quoted question never reached an agent: a review, 2026-12-07), then the
    ``>`` lines trailing the message (a quote in the middle is what the customer chose to
    answer, and stays)."""
    start = quoted_thread_start(lines)
    if start is not None:
        lines = lines[:start] + _inline_replies(lines[start + 1 :])
    end = len(lines)
    while end > 0 and (
        not lines[end - 1].strip()
        or lines[end - 1].lstrip().startswith(">")
        or MOBILE_SIGNATURE.match(lines[end - 1])
    ):
        end -= 1
    return lines[:end]


# A mail disclaimer: a trailing paragraph (never the message's first) holding one of its
# telling phrases, two or more of its phrases in all, and no word of the writer's own ("I",
# "my": the customer's "I received this e-mail in error, please delete my account" stays).
# Found as written, lower case, no pattern to backtrack. Left in, its English made a German
# ticket read as English (answered with no person), and its "inform us immediately" and
# "unauthorized access" made an invoice question Urgent (a review, 2026-12-07).
DISCLAIMER_TELLING: Final = (
    "intended recipient", "intended only for", "intended solely for", "intended exclusively for",
    "received this e-mail in error", "received this email in error",
    "received this message in error", "received this communication in error",
    "only for the use of", "confidential and privileged", "privileged and confidential",
    "confidential and intended", "irrtümlich erhalten", "nicht der richtige adressat",
)  # fmt: skip
DISCLAIMER_PHRASES: Final = (
    *DISCLAIMER_TELLING, "confidential", "privileged", "in error", "notify the sender",
    "notify us immediately", "inform us immediately", "inform the sender", "delete it",
    "delete this", "destroy", "unauthorized", "unauthorised", "prohibited", "strictly forbidden",
    "vertraulich", "irrtümlich", "unbefugte", "den absender", "löschen sie",
)  # fmt: skip
DISCLAIMER_MIN_PHRASES: Final = 2
WRITERS_OWN: Final = re.compile(r"\b(i|i'm|i've|my|me|ich|mein|meine|mir|mich)\b")


def _drop_disclaimers(lines: list[str]) -> list[str]:
    """Cut the trailing paragraphs that are a mail disclaimer, never the message's first
    paragraph: what the customer wrote goes first."""
    while True:
        end = len(lines)
        while end > 0 and not lines[end - 1].strip():
            end -= 1
        start = end
        while start > 0 and lines[start - 1].strip():
            start -= 1
        if start == 0 or not _is_disclaimer(" ".join(lines[start:end])):
            return lines[:end]
        lines = lines[:start]


def _is_disclaimer(paragraph: str) -> bool:
    text = " ".join(paragraph.lower().replace("\u2019", "'").split())
    return (
        any(phrase in text for phrase in DISCLAIMER_TELLING)
        and sum(phrase in text for phrase in DISCLAIMER_PHRASES) >= DISCLAIMER_MIN_PHRASES
        and not WRITERS_OWN.search(text)
    )


def _content_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip()]


def _name_like(line: str) -> bool:
    """A name, title, company, phone number or address: every word capitalized ("Head of
    Finance, ACME Ltd."), a particle, or holding a digit or an "@" ("+49 30 1234567",
    "ana@example.com"). "Still broken.", "It still does not work." and "Please refund €49.99 by
    Friday" are the customer's (a review, 2026-12-07); a lowercase title ("head of customer
    success") is kept with them, a few tokens for nothing lost."""
    shouted = sum(len(w) > 3 and w.isupper() for w in (r.strip(WORD_EDGES) for r in line.split()))
    if shouted >= 2:
        return False  # "URGENT PLEASE CALL ME" under "Thanks,": the customer's, not a company
    for raw in line.split():
        word = raw.strip(WORD_EDGES)
        if not word or not any(c.isalnum() for c in word):
            continue  # "|", "-", a dash
        if not (
            word[:1].isupper()
            or word.lower() in NAME_PARTICLES
            or any(c.isdigit() for c in word)
            or "@" in word
        ):
            return False
    return True


def _is_name_block(lines: list[str]) -> bool:
    """What may follow a sign-off: a name, a title, a company, a phone number."""
    content = _content_lines(lines)
    return len(content) <= NAME_BLOCK_MAX_LINES and all(
        len(line) <= NAME_BLOCK_MAX_CHARS
        and len(line.split()) <= NAME_BLOCK_MAX_WORDS
        and not POSTSCRIPT.match(line)
        and not line.rstrip().endswith("?")
        and not REFERENCE.search(line)
        and _name_like(line)
        for line in content
    )


def _is_signature(lines: list[str]) -> bool:
    """What may follow a "--" line: a few lines, each a name, title or company, or a contact
    (an address, a web site, a phone number). A customer's "--" between two parts of the
    message was cut with everything after it: "This is an outage for all our users, it's
    urgent, please call me." never reached an agent (a review, 2026-12-07)."""
    content = _content_lines(lines)
    return len(content) <= SIGNATURE_MAX_LINES and all(
        len(line) <= NAME_BLOCK_MAX_CHARS
        and not POSTSCRIPT.match(line)
        and not line.rstrip().endswith("?")
        and not REFERENCE.search(line)
        and (_name_like(line) or CONTACT.fullmatch(line) is not None)
        for line in content
    )


def _drop_greeting_and_signature(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    if lines and GREETING.match(lines[0]) and len(lines) > 1:
        lines = lines[1:]
    for index, line in enumerate(lines):
        if SIGNATURE_DELIMITER.match(line):
            if _is_signature(lines[index + 1 :]):
                lines = lines[:index]
            break
    start = max(len(lines) - SIGN_OFF_WINDOW_LINES, 1)
    for index in range(start, len(lines)):
        if _sign_off(lines[index]) and _is_name_block(lines[index + 1 :]):
            lines = lines[:index]
            break
    return lines


# The lines of a cut middle kept for their escalation cues, and how much of each.
KEPT_ESCALATION_LINES: Final = 3
KEPT_ESCALATION_CHARS: Final = 300


def _escalations(middle: str) -> list[str]:
    return escalation_lines(middle, KEPT_ESCALATION_LINES, KEPT_ESCALATION_CHARS)


def search_text(subject: str, body: str) -> str:
    """What the knowledge base is searched with: the subject and the body as the agents read it
    (our own earlier reply quoted below the question once picked the article)."""
    return f"{subject}\n{trim_body(body).text}"


def trim_body(body: str, budget_tokens: int = DEFAULT_BODY_TOKEN_BUDGET) -> Trimmed:
    lines = body.replace("\r\n", "\n").split("\n")
    lines = _drop_greeting_and_signature(_drop_disclaimers(_drop_quoted(lines)))
    text = "\n".join(lines).strip() or body.strip()  # never trim a ticket to nothing
    text = re.sub(r"\n{3,}", "\n\n", text)
    # What a person must answer stays however long the ticket: a lawyer named in the middle of a
    # long account was cut before any agent (the offline triage, a model) read it.
    text = fit_to_tokens(text, budget_tokens, keep=_escalations)
    return Trimmed(text=text, removed_tokens=max(estimate_tokens(body) - estimate_tokens(text), 0))
