"""Where the earlier thread quoted below a customer's reply starts (pure, no Temporal).

Only a genuine quote marker counts, never a line that merely starts like one ("From: the Reports
page ..." is the customer's own text):

- an attribution line as mail clients write it, in English, German, French, Spanish, Portuguese,
  Italian or Dutch ("On <date> <name> wrote:", "Am <date> schrieb <name>:", "Le <date>, <name> a
  écrit :", "El <date>, <name> escribió:", "Em <date>, <name> escreveu:", ...), possibly wrapped
  over up to three lines, and naming an address, a time or a year;
- a header block (Outlook, Thunderbird): From and Subject lines with a Sent/Date or To line right
  next to them, in any of those languages;
- a separator line: "-----Original Message-----" and its translations.

A forwarded message ("Begin forwarded message:", "---------- Forwarded message ---------") is
not an earlier thread: the customer sent it for us to read, so it is kept.
"""

import re
from typing import Final

# Lines joined to find an attribution a client wrapped ("... <support@example.com>\nwrote:").
ATTRIBUTION_MAX_LINES: Final = 3
# A header block: consecutive field lines (with indented continuations) starting here.
HEADER_BLOCK_MAX_LINES: Final = 8
# A header block shows From and Subject and at least one of Sent/Date and To next to them, as
# Outlook (From, Sent, To, Subject), Thunderbird (Subject, Date, From, To) and Gmail/Apple Mail
# forwards (From, Date, Subject, To) all do; "From: account A / To: account B / Date: ..." in a
# customer's text is not one.
HEADER_REQUIRED_FIELDS: Final = frozenset({"from", "subject"})

_ATTRIBUTIONS: Final = [
    r"on\b.{4,250}\bwrote\s*:",  # English (Gmail, Apple Mail, Thunderbird)
    r"am\b.{4,250}\bschrieb\b.{0,250}:",  # German
    r"le\b.{4,250}\ba\s+écrit\s*:",  # French
    r"el\b.{4,250}\bescribió\s*:",  # Spanish
    r"em\b.{4,250}\bescreveu\s*:",  # Portuguese
    r"il\b.{4,250}\bha\s+scritto\s*:",  # Italian
    r"op\b.{4,250}\bschreef\b.{0,250}:",  # Dutch
]
ATTRIBUTION: Final = re.compile(
    r"^\s*(?:" + "|".join(_ATTRIBUTIONS) + r")\s*$", re.IGNORECASE | re.DOTALL
)
# What makes an attribution a mail client's and not a sentence ("On the settings page it
# wrote:"): an address, a time of day, a year or a numeric date.
ATTRIBUTION_EVIDENCE: Final = re.compile(
    r"@|\b\d{1,2}[:h.]\d{2}\b|\b(19|20)\d{2}\b|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b"
)
ATTRIBUTION_OPENER: Final = re.compile(r"^\s*(on|am|le|el|em|il|op)\b", re.IGNORECASE)

SEPARATOR: Final = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|originalnachricht|"
    r"message d'origine|mensaje original|mensagem original|messaggio originale|"
    r"oorspronkelijk bericht)\s*-{2,}\s*$",
    re.IGNORECASE,
)
# Possessive at its end (``*+``): with three plain runs of spaces a line of a marker and many
# spaces above a header block took time growing with the cube of its length (5 s at 1,500
# spaces, hours at the body's 20,000), holding the interpreter in workflow code. Same matches.
FORWARD_MARKER: Final = re.compile(
    r"^\s*(-{2,}\s*)?(forwarded message|begin forwarded message|weitergeleitete nachricht|"
    r"anfang der weitergeleiteten nachricht|message transféré|début du message réexpédié|"
    r"mensaje reenviado|mensagem encaminhada|messaggio inoltrato|doorgestuurd bericht)"
    r"\s*+:?\s*+(-{2,}+)?\s*+$",
    re.IGNORECASE,
)
# Outlook marks a forward only in the Subject line of the header block it quotes.
FORWARD_SUBJECT: Final = re.compile(r":[*_]*\s*(fwd?|wg|tr|rv|enc|i)\s*:", re.IGNORECASE)
# Outlook puts a rule of underscores above its header block.
RULE: Final = re.compile(r"^\s*_{10,}\s*$")

_FIELDS: Final = {
    "from": "from|von|de|da|van",
    "sent": "sent|date|gesendet|datum|envoyé|enviado|enviada|fecha|data|inviato|verzonden",
    "to": "to|an|à|a|para|aan",
    "subject": "subject|betreff|objet|asunto|assunto|oggetto|onderwerp",
    "cc": "cc|kopie",
}
# Each run of spaces is matched once: `\s*[*_]*\s*` (the same language) backtracked over every
# split of a long run of blanks, quadratic in its length (a line of 6,000 non-breaking spaces
# took 11 s, blocking a worker's event loop and a workflow task past its deadlock timeout).
HEADER_FIELD: Final = re.compile(
    r"^\s*(?:[*_]+\s*)?(?:"
    + "|".join(f"(?P<{k}>{v})" for k, v in _FIELDS.items())
    + r")\s*(?:[*_]+\s*)?:[*_]*(\s|$)",
    re.IGNORECASE,
)


def _field(line: str) -> str | None:
    match = HEADER_FIELD.match(line)
    if match is None:
        return None
    return next(kind for kind, value in match.groupdict().items() if value is not None)


def _attribution_at(lines: list[str], index: int) -> bool:
    if not ATTRIBUTION_OPENER.match(lines[index]):
        return False
    for count in range(1, ATTRIBUTION_MAX_LINES + 1):
        chunk = lines[index : index + count]
        if len(chunk) < count or (count > 1 and not chunk[-1].strip()):
            return False
        text = "\n".join(line.lstrip("> ") for line in chunk)
        if ATTRIBUTION.match(text):
            return bool(ATTRIBUTION_EVIDENCE.search(text))
    return False


def _header_block(lines: list[str], index: int) -> int:
    """How many lines the header block starting at ``index`` spans (0: none starts there)."""
    kinds: set[str] = set()
    end = index
    for line in lines[index : index + HEADER_BLOCK_MAX_LINES]:
        kind = _field(line)
        if kind is None:
            if kinds and line[:1] in (" ", "\t") and line.strip():
                end += 1  # a wrapped field ("To: a@example.com;\n    b@example.com")
                continue
            break
        kinds.add(kind)
        end += 1
    if kinds >= HEADER_REQUIRED_FIELDS and kinds & {"sent", "to"}:
        return end - index
    return 0


def _forwarded(lines: list[str], index: int, size: int) -> bool:
    """The header block at ``index`` heads a forwarded message: a forward marker just above it,
    or a subject that says so ("Subject: FW: ...", "Betreff: WG: ...")."""
    above = [line for line in lines[max(index - 3, 0) : index] if line.strip()]
    if any(FORWARD_MARKER.match(line) for line in above[-2:]):
        return True
    block = lines[index : index + size]
    return any(_field(line) == "subject" and FORWARD_SUBJECT.search(line) for line in block)


def reply_lines_within(lines: list[str], limit: int) -> int:
    """How many of ``lines`` a thread may start below a reply of at most ``limit`` characters:
    the first index whose lines before it, joined and stripped, are longer (len(lines) when
    none are)."""
    first: int | None = None  # where the reply's text starts, and ends
    end = offset = 0
    for index, line in enumerate(lines):
        if first is not None and end - first > limit:
            return index
        if line.strip():
            if first is None:
                first = offset + len(line) - len(line.lstrip())
            end = offset + len(line.rstrip())
        offset += len(line) + 1
    return len(lines)


def quoted_thread_start(lines: list[str], reply_limit: int | None = None) -> int | None:
    """The index of the first line of the quoted earlier thread, or None when there is none.
    ``reply_limit``: only a thread below a reply of at most that many characters is of use to
    the caller, so no line past such a reply is looked at (a megabyte of text that is all
    header-like lines took seconds to scan, on an API's event loop)."""
    stop = len(lines) if reply_limit is None else reply_lines_within(lines, reply_limit)
    index = 0
    while index < stop:
        if SEPARATOR.match(lines[index]) or _attribution_at(lines, index):
            return index
        if _field(lines[index]) and (size := _header_block(lines, index)):
            if _forwarded(lines, index, size):
                index += size  # a forwarded message's own header: its text is kept
                continue
            previous = index - 1
            while previous >= 0 and not lines[previous].strip():
                previous -= 1
            return previous if previous >= 0 and RULE.match(lines[previous]) else index
        index += 1
    return None
