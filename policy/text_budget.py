"""Fitting text to a token budget (about four characters a token): keep the head and the tail."""

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


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN) if text else 0


def fit_to_tokens(text: str, budget_tokens: int) -> str:
    if estimate_tokens(text) <= budget_tokens:
        return text
    if budget_tokens <= 0:
        return f"[... {len(text):,} characters trimmed ...]"
    budget_chars = budget_tokens * CHARS_PER_TOKEN
    head = text[: int(budget_chars * HEAD_SHARE)]
    tail = text[-int(budget_chars * (1 - HEAD_SHARE)) :]
    cut = len(text) - len(head) - len(tail)
    return f"{head}\n[... {cut:,} characters trimmed ...]\n{tail}"
