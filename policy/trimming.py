"""Input trimming: what the model never needs to read (pure: activities and workflows use it).

Greetings, sign-offs and signatures, quoted earlier messages and the middle of over-long bodies
are cut before any provider sees a ticket. Every agent reads the ticket, so a saving here is
multiplied by the number of agent calls. The cut is reported as ``trimmed_tokens`` in each call's
usage and summed per ticket.
"""

import re
from dataclasses import dataclass
from typing import Final

from policy.text_budget import estimate_tokens, fit_to_tokens

# A ticket body longer than this (in estimated tokens) keeps its head and tail only.
DEFAULT_BODY_TOKEN_BUDGET: Final = 1_500

# A line that is only a greeting ("Hi team,", "Dear support team,"), not "Hi, my app crashes".
GREETING = re.compile(
    r"^\s*(hi|hello|hey|dear|good (morning|afternoon|evening)|greetings)\b"
    r"(\s+\w+){0,3}\s*[,!.:]?\s*$",
    re.IGNORECASE,
)
SIGN_OFF = re.compile(
    r"^\s*(thanks|thank you|many thanks|thanks in advance|regards|best|best regards|kind regards|"
    r"cheers|sincerely|warm regards|br)\b[\s,.!]*(\w+[\s,.!]*){0,3}$",
    re.IGNORECASE,
)
SIGNATURE_DELIMITER = re.compile(r"^--\s*$")
QUOTE_HEADER = re.compile(
    r"^\s*(on .{4,120} wrote:|-{2,}\s*original message\s*-{2,}|from: .+|sent from my \w+)\s*$",
    re.IGNORECASE,
)
# A sign-off only counts near the end; "Thanks for the quick fix" in the middle is content.
SIGN_OFF_WINDOW_LINES: Final = 8


@dataclass(frozen=True)
class Trimmed:
    text: str
    removed_tokens: int


def _drop_quoted(lines: list[str]) -> list[str]:
    kept = []
    for line in lines:
        if QUOTE_HEADER.match(line):
            break  # everything after "On ... wrote:" / "Original message" is the earlier thread
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return kept


def _drop_greeting_and_signature(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    if lines and GREETING.match(lines[0]) and len(lines) > 1:
        lines = lines[1:]
    for index, line in enumerate(lines):
        if SIGNATURE_DELIMITER.match(line):
            lines = lines[:index]
            break
    start = max(len(lines) - SIGN_OFF_WINDOW_LINES, 1)
    for index in range(start, len(lines)):
        if SIGN_OFF.match(lines[index]):
            lines = lines[:index]
            break
    return lines


def trim_body(body: str, budget_tokens: int = DEFAULT_BODY_TOKEN_BUDGET) -> Trimmed:
    lines = body.replace("\r\n", "\n").split("\n")
    lines = _drop_greeting_and_signature(_drop_quoted(lines))
    text = "\n".join(lines).strip() or body.strip()  # never trim a ticket to nothing
    text = re.sub(r"\n{3,}", "\n\n", text)
    text = fit_to_tokens(text, budget_tokens)
    return Trimmed(text=text, removed_tokens=max(estimate_tokens(body) - estimate_tokens(text), 0))
