"""The bundled knowledge base and its keyword search."""

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from activities.knowledge_base import KnowledgeBase
from shared.agents import Category, KnowledgeArticle, KnowledgeQuery


def bundled_raw() -> list[dict[str, Any]]:
    text = (resources.files("activities.knowledge_base") / "articles.json").read_text(
        encoding="utf-8"
    )
    return json.loads(text)


def article(article_id: str, title: str, category: Category) -> KnowledgeArticle:
    return KnowledgeArticle(
        article_id=article_id, title=title, category=category, answer=f"The answer of {title}."
    )


# Terms come from the title's content words plus the keywords.
REFUND_POLICY = article("B-2", "Refund policy", Category.BILLING)  # refund, policy, money
REFUND_RULES = article("B-1", "Refund rules", Category.BILLING)  # refund, rules
PASSWORD_RESET = article("A-1", "Password reset", Category.ACCOUNT)  # password, reset, login
WEBHOOKS = article("T-1", "Webhook deliveries", Category.TECHNICAL)  # webhook, deliveries, endpoint
ARTICLES = [REFUND_POLICY, REFUND_RULES, PASSWORD_RESET, WEBHOOKS]
KEYWORDS = {"B-2": ["money"], "A-1": ["login"], "T-1": ["Endpoint"]}


@pytest.fixture
def kb() -> KnowledgeBase:
    return KnowledgeBase(ARTICLES, KEYWORDS)


def ids(articles: list[KnowledgeArticle]) -> list[str]:
    return [a.article_id for a in articles]


def search(kb: KnowledgeBase, category: Category, text: str, limit: int = 3) -> list[str]:
    return ids(kb.search(KnowledgeQuery(category=category, text=text, limit=limit)))


# ---- the bundled articles ------------------------------------------------------------------------


def test_every_bundled_article_has_a_unique_id() -> None:
    article_ids = [a["article_id"] for a in bundled_raw()]

    assert len(article_ids) == len(set(article_ids))
    assert len(KnowledgeBase.bundled()) == len(article_ids)


@pytest.mark.parametrize("raw", [pytest.param(a, id=a["article_id"]) for a in bundled_raw()])
def test_every_bundled_article_has_a_known_category_and_an_answer(raw: dict[str, Any]) -> None:
    assert raw["category"] in set(Category)
    assert raw["title"].strip()
    assert raw["answer"].strip()
    parsed = KnowledgeArticle.model_validate({k: v for k, v in raw.items() if k != "keywords"})
    assert isinstance(parsed.category, Category)


def test_the_bundled_articles_cover_every_category() -> None:
    assert KnowledgeBase.bundled().categories() == set(Category)


def test_a_password_question_finds_the_password_article_first() -> None:
    found = KnowledgeBase.bundled().search(
        KnowledgeQuery(category=Category.ACCOUNT, text="Forgot my password, how do I reset it?")
    )

    assert found[0].article_id == "KB-101"


@pytest.mark.parametrize("category", list(Category))
def test_unrelated_text_finds_nothing_in_the_bundled_articles(category: Category) -> None:
    query = KnowledgeQuery(category=category, text="zebra xylophone marmalade quantum origami")

    assert KnowledgeBase.bundled().search(query) == []


# ---- search --------------------------------------------------------------------------------------


def test_same_category_articles_come_before_equally_matching_other_categories(
    kb: KnowledgeBase,
) -> None:
    # Refund policy shares two terms, Refund rules one, Password reset two (other category).
    found = search(kb, Category.BILLING, "refund money, password reset")

    assert found == ["B-2", "B-1", "A-1"]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_search_returns_at_most_limit_articles(kb: KnowledgeBase, limit: int) -> None:
    found = search(kb, Category.BILLING, "refund money, password reset", limit=limit)

    assert found == ["B-2", "B-1", "A-1"][:limit]


def test_one_shared_term_is_enough_in_the_same_category(kb: KnowledgeBase) -> None:
    assert search(kb, Category.ACCOUNT, "my password") == ["A-1"]


def test_one_shared_term_is_not_enough_across_categories(kb: KnowledgeBase) -> None:
    assert search(kb, Category.TECHNICAL, "my password") == []


def test_two_shared_terms_are_enough_across_categories(kb: KnowledgeBase) -> None:
    assert search(kb, Category.TECHNICAL, "password reset") == ["A-1"]


def test_keywords_count_as_terms_whatever_their_case(kb: KnowledgeBase) -> None:
    assert search(kb, Category.TECHNICAL, "which ENDPOINT?") == ["T-1"]


def test_unrelated_text_finds_nothing(kb: KnowledgeBase) -> None:
    assert search(kb, Category.BILLING, "zebra xylophone marmalade") == []


def test_ties_are_ordered_by_article_id_whatever_the_file_order() -> None:
    forward = KnowledgeBase(ARTICLES, KEYWORDS)
    backward = KnowledgeBase(list(reversed(ARTICLES)), KEYWORDS)

    # Both refund articles share exactly one term with the query.
    assert search(forward, Category.BILLING, "a refund") == ["B-1", "B-2"]
    assert search(backward, Category.BILLING, "a refund") == ["B-1", "B-2"]


def test_search_is_deterministic(kb: KnowledgeBase) -> None:
    query = KnowledgeQuery(category=Category.BILLING, text="refund money, password reset")

    assert kb.search(query) == kb.search(query)


# ---- loading -------------------------------------------------------------------------------------


def test_from_file_loads_articles_and_their_keywords(tmp_path: Path) -> None:
    path = tmp_path / "articles.json"
    path.write_text(
        json.dumps(
            [
                {
                    "article_id": "X-1",
                    "title": "Exporting reports",
                    "category": "Technical",
                    "keywords": ["csv", "spreadsheet"],
                    "answer": "Use Reports > Export.",
                    "internal_note": "Exports over 1 GB time out.",
                },
                {
                    "article_id": "X-2",
                    "title": "Opening hours",
                    "category": "General",
                    "answer": "We answer around the clock.",
                },
            ]
        ),
        encoding="utf-8",
    )

    kb = KnowledgeBase.from_file(path)

    assert len(kb) == 2
    assert kb.categories() == {Category.TECHNICAL, Category.GENERAL}
    # "csv" is only a keyword, not in the title: keywords are indexed.
    (found,) = kb.search(KnowledgeQuery(category=Category.TECHNICAL, text="CSV please"))
    assert found.article_id == "X-1"
    assert found.internal_note == "Exports over 1 GB time out."
    (hours,) = kb.search(KnowledgeQuery(category=Category.GENERAL, text="your opening hours"))
    assert hours.internal_note == ""


def test_a_hyphenated_word_finds_the_articles_its_parts_name() -> None:
    # A review (2026-12-07): "double-charged" and "locked-out" were one token each, sharing
    # nothing with the articles on charges and on getting back into an account.

    kb = KnowledgeBase.bundled()
    charged = kb.search(
        KnowledgeQuery(category=Category.BILLING, text="I was double-charged for my order", limit=3)
    )
    assert "KB-203" in [a.article_id for a in charged]  # unexpected or duplicate charges
    locked = kb.search(
        KnowledgeQuery(category=Category.ACCOUNT, text="I am locked-out of my account", limit=3)
    )
    assert locked[0].article_id in {"KB-101", "KB-102"}  # password, two-factor
