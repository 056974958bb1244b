"""Offline review insights: word-list sentiment with negation, key points from telling sentences."""

import json
from pathlib import Path

import pytest

from activities.providers.offline.insights import MAX_POINT_CHARS, insights
from shared.swarm import ReviewInsights, Sentiment, SwarmItem

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "reviews.jsonl"


def analyse(text: str) -> ReviewInsights:
    return insights(SwarmItem(item_id="R-test", text=text))


def sample_reviews() -> dict[str, str]:
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    return {raw["id"]: raw["text"] for raw in (json.loads(line) for line in lines if line.strip())}


REVIEWS = sample_reviews()


@pytest.mark.parametrize(
    ("review_id", "sentiment"),
    [
        ("R-001", Sentiment.POSITIVE),  # Great kettle, boils fast ... Would recommend.
        ("R-006", Sentiment.POSITIVE),  # Excellent value for money. Solid build ...
        ("R-002", Sentiment.NEGATIVE),  # The lid broke ... Cheap plastic, very disappointed.
        ("R-008", Sentiment.NEGATIVE),  # Stopped working after a month. Waste of money.
        ("R-011", Sentiment.POSITIVE),  # Not bad at all: a negated negative
        ("R-028", Sentiment.NEGATIVE),  # I would not buy it again: slow and noisy.
        ("R-004", Sentiment.MIXED),  # Love the design, but it is noisy when it boils.
        ("R-014", Sentiment.MIXED),  # The app pairing was difficult, but ... works great.
        ("R-003", Sentiment.NEUTRAL),  # Does what it says. Nothing special, nothing wrong.
        ("R-022", Sentiment.NEUTRAL),  # Average. It boils water.
    ],
)
def test_sentiment_of_the_sample_reviews(review_id: str, sentiment: Sentiment) -> None:
    assert analyse(REVIEWS[review_id]).sentiment is sentiment


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("The kettle is good.", Sentiment.POSITIVE),
        ("The kettle is not good.", Sentiment.NEGATIVE),
        ("The kettle is never reliable.", Sentiment.NEGATIVE),
        ("It isn't bad.", Sentiment.POSITIVE),
        ("It wasn't noisy and it didn't leaks.", Sentiment.POSITIVE),
        ("Great, but awful.", Sentiment.MIXED),
    ],
)
def test_a_negator_flips_the_word_after_it(text: str, sentiment: Sentiment) -> None:
    assert analyse(text).sentiment is sentiment


def test_a_clear_majority_is_not_mixed() -> None:
    # Three positives against one negative: 1 * 2 < 3, so positive, not mixed.
    assert analyse("Great, fast and reliable, though a bit noisy.").sentiment is Sentiment.POSITIVE
    # One against two is still mixed (1 * 2 >= 2).
    assert analyse("Great and fast, but noisy.").sentiment is Sentiment.MIXED


def test_key_points_are_the_sentences_that_carry_the_sentiment() -> None:
    result = analyse("I bought it in May. The lid broke after a week. My sister has one too.")
    assert result.key_points == ["The lid broke after a week."]


def test_without_telling_sentences_the_first_sentence_is_the_key_point() -> None:
    result = analyse("Average. It boils water.")
    assert result.sentiment is Sentiment.NEUTRAL
    assert result.key_points == ["Average."]


def test_key_points_are_shortened_and_their_whitespace_collapsed() -> None:
    long_sentence = "Great   kettle\twith " + "very " * 60 + "long praise."
    result = analyse(long_sentence)
    assert len(result.key_points) == 1
    point = result.key_points[0]
    assert len(point) == MAX_POINT_CHARS
    assert point.startswith("Great kettle with very very")
    assert "  " not in point and "\t" not in point


def test_a_long_review_gives_at_most_five_key_points() -> None:
    text = " ".join(f"Sentence {i} is great." for i in range(12))
    result = analyse(text)
    assert 1 <= len(result.key_points) <= 5
    assert result.key_points[0] == "Sentence 0 is great."


def test_every_sample_review_gives_valid_insights() -> None:
    assert len(REVIEWS) == 40
    seen = set()
    for review_id, text in REVIEWS.items():
        result = analyse(text)
        assert 1 <= len(result.key_points) <= 5, review_id
        assert all(point.strip() for point in result.key_points), review_id
        assert all(point in " ".join(text.split()) for point in result.key_points), review_id
        seen.add(result.sentiment)
    assert seen == set(Sentiment)
