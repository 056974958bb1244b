"""What the offline resolver does with a reviewer's rework notes.

Notes are instructions to the resolver ("point them to the invoices page", "explain the refund
window"), written for colleagues: they are never customer text and never appear in a reply. A
rule-based resolver can follow them one way: the articles the notes talk about lead the next
draft. Notes that name no documented topic change nothing, and the reworked draft goes back to
the reviewer (rework always does), who can then edit it.
"""

from typing import Final

from activities.knowledge_base import KnowledgeBase
from activities.text import content_words
from shared.agents import KnowledgeArticle

# Words of the instruction itself, not of the topic it points at.
INSTRUCTION_WORDS: Final = frozenset(
    " ".join(
        [
            "mention add include explain tell say point link reply answer customer customers",
            "them they their draft article section page instead better shorter longer",
            "rewrite remove drop keep make sure",
        ]
    ).split()
)


def topic_words(notes: str) -> set[str]:
    return content_words(notes) - INSTRUCTION_WORDS


def articles_for_notes(
    notes: str | None, articles: list[KnowledgeArticle], kb: KnowledgeBase
) -> list[KnowledgeArticle]:
    """``articles`` with those the notes talk about first (from the bundled knowledge base too,
    when the notes point at an article the ticket's search did not find)."""
    wanted = topic_words(notes or "")
    if not wanted:
        return articles
    known = {a.article_id for a in articles}
    candidates = articles + [a for a in kb.articles() if a.article_id not in known]
    scored = [
        (len(wanted & content_words(f"{a.title} {a.answer}")), index, a)
        for index, a in enumerate(candidates)
    ]
    pointed = [a for overlap, _, a in sorted(scored, key=lambda s: (-s[0], s[1])) if overlap]
    pointed_ids = {a.article_id for a in pointed[:1]}
    return pointed[:1] + [a for a in articles if a.article_id not in pointed_ids]
