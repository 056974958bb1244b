"""Fitting text to a token budget (about four characters a token): keep the head and the tail."""

import math
from collections.abc import Callable
from typing import Final

CHARS_PER_TOKEN: Final = 4
# Share of the budget kept from the start; the rest comes from the end, where conclusions, error
# messages and the actual question often are.
HEAD_SHARE: Final = 0.75


# How estimated token figures are marked wherever they are shown (the CLI, the console), and
# what the mark means.
ESTIMATE_MARK: Final = "~"
ESTIMATE_NOTE: Final = "~ estimated: characters / 4"


def tokens_text(tokens: int, estimated: int) -> str:
    """A token count, marked when some of it (``estimated``) was estimated."""
    return f"{ESTIMATE_MARK if estimated else ''}{tokens:,}"


def usd_text(value: float) -> str:
    """Dollars to four decimals, or to the first digits that are not zero when four would
    show a cost as nothing (a classification on a cheap model: 0.000018, not 0.0000)."""
    decimals = 4
    if 0 < abs(value) < 0.00005:  # two digits that are not zero, to at most 8 decimals
        decimals = min(math.ceil(-math.log10(abs(value))) + 1, 8)
    return f"{value:,.{decimals}f}"


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN) if text else 0


def fit_to_tokens(
    text: str, budget_tokens: int, keep: Callable[[str], list[str]] | None = None
) -> str:
    """``text`` within ``budget_tokens``: its head and tail, the middle cut; ``keep``: the lines
    of the cut middle to keep all the same (set after the cut's marker)."""
    if estimate_tokens(text) <= budget_tokens:
        return text
    if budget_tokens <= 0:
        return f"[... {len(text):,} characters trimmed ...]"
    budget_chars = budget_tokens * CHARS_PER_TOKEN
    head = text[: int(budget_chars * HEAD_SHARE)]
    tail = text[-int(budget_chars * (1 - HEAD_SHARE)) :]
    cut = len(text) - len(head) - len(tail)
    kept = keep(text[len(head) : len(text) - len(tail)]) if keep is not None else []
    marker = f"[... {cut:,} characters trimmed ...]"
    if kept:
        lines = "\n".join(kept)
        marker = f"[... {cut:,} characters trimmed; kept from them:]\n{lines}\n[...]"
    return f"{head}\n{marker}\n{tail}"
