"""The bundled knowledge base: a small set of support articles and a keyword search over them."""

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from activities.text import content_words
from shared.agents import Category, KnowledgeArticle, KnowledgeQuery


@dataclass(frozen=True)
class IndexedArticle:
    article: KnowledgeArticle
    terms: frozenset[str]


class KnowledgeBase:
    def __init__(self, articles: list[KnowledgeArticle], keywords: dict[str, list[str]]) -> None:
        self._index = [
            IndexedArticle(
                article=a,
                terms=frozenset(
                    content_words(a.title) | {k.lower() for k in keywords.get(a.article_id, [])}
                ),
            )
            for a in articles
        ]

    @classmethod
    def from_file(cls, path: Path) -> "KnowledgeBase":
        raw = json.loads(path.read_text(encoding="utf-8"))
        articles = [
            KnowledgeArticle.model_validate({k: v for k, v in a.items() if k != "keywords"})
            for a in raw
        ]
        return cls(articles, {a["article_id"]: a.get("keywords", []) for a in raw})

    @classmethod
    @cache
    def bundled(cls) -> "KnowledgeBase":
        with resources.as_file(resources.files(__package__) / "articles.json") as path:
            return cls.from_file(path)

    def __len__(self) -> int:
        return len(self._index)

    def search(self, query: KnowledgeQuery) -> list[KnowledgeArticle]:
        """Articles that share terms with the query, best first. An article of the ticket's own
        category needs one shared term; any other needs two (a weaker signal)."""
        terms = content_words(query.text)
        scored: list[tuple[float, str, KnowledgeArticle]] = []
        for item in self._index:
            overlap = len(terms & item.terms)
            same_category = item.article.category is query.category
            if overlap >= (1 if same_category else 2):
                score = overlap + (1.5 if same_category else 0.0)
                scored.append((score, item.article.article_id, item.article))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [article for _, _, article in scored[: query.limit]]

    def articles(self) -> list[KnowledgeArticle]:
        return [item.article for item in self._index]

    def categories(self) -> set[Category]:
        return {item.article.category for item in self._index}
