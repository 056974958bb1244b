"""Offline review insights: sentiment from a word list (with negation), key points from the
sentences that carry it."""

import re

from activities.text import sentences, words
from shared.swarm import ReviewInsights, Sentiment, SwarmItem

POSITIVE = frozenset(
    """
    good great excellent love loved lovely perfect amazing happy recommend fast easy
    comfortable works worth best nice sturdy reliable beautiful awesome fantastic solid
    pleased quality quick
    """.split()  # noqa: SIM905 - a word list reads better as text
)
NEGATIVE = frozenset(
    """
    bad poor terrible broke broken slow hate disappointed disappointing waste returned
    cheap defective worst awful difficult noisy refund stopped leaks leaking flimsy
    useless unhappy faulty late damaged
    """.split()  # noqa: SIM905 - a word list reads better as text
)
NEGATORS = frozenset(
    """
    not never no isn't wasn't don't doesn't didn't hardly
    """.split()  # noqa: SIM905 - a word list reads better as text
)
MAX_POINT_CHARS = 120


def _score(text: str) -> tuple[int, int]:
    tokens = words(text)
    positive = negative = 0
    for i, token in enumerate(tokens):
        flip = i > 0 and tokens[i - 1] in NEGATORS
        if token in POSITIVE:
            positive, negative = (positive, negative + 1) if flip else (positive + 1, negative)
        elif token in NEGATIVE:
            positive, negative = (positive + 1, negative) if flip else (positive, negative + 1)
    return positive, negative


def insights(item: SwarmItem) -> ReviewInsights:
    positive, negative = _score(item.text)
    if positive and negative and min(positive, negative) * 2 >= max(positive, negative):
        sentiment = Sentiment.MIXED
    elif positive > negative:
        sentiment = Sentiment.POSITIVE
    elif negative > positive:
        sentiment = Sentiment.NEGATIVE
    else:
        sentiment = Sentiment.NEUTRAL
    parts = sentences(item.text)
    telling = [s for s in parts if any(_score(s))] or parts[:1] or [item.text]
    points = [re.sub(r"\s+", " ", s)[:MAX_POINT_CHARS] for s in telling[:3]]
    return ReviewInsights(sentiment=sentiment, key_points=points)
