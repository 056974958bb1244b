"""What the offline resolver and validator tests share: a few knowledge-base articles, a clean
draft, and builders for draft requests and findings."""

import json
from importlib import resources
from pathlib import Path

from activities.providers.offline import validator
from shared.agents import (
    AgentRoute,
    Category,
    Classification,
    Draft,
    DraftRequest,
    Finding,
    FindingCode,
    KnowledgeArticle,
    Priority,
)
from shared.tickets import Ticket

ROUTE = AgentRoute(provider="offline", model="offline-rules-v1")
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "tickets.jsonl"

REFUND_ARTICLE = KnowledgeArticle(
    article_id="KB-201",
    title="Refund policy",
    category=Category.BILLING,
    answer=(
        "You can request a refund within 30 days of a charge from Settings > Billing > "
        "Payment history. Once a refund is approved, your bank usually shows it within 5 to 10 "
        "business days."
    ),
    internal_note="Refunds above 500 USD need a team lead's approval in the billing console.",
)
PLANS_ARTICLE = KnowledgeArticle(
    article_id="KB-205",
    title="Changing plans and cancellation fees",
    category=Category.BILLING,
    answer="You can upgrade or downgrade under Settings > Billing > Plan.",
    internal_note="Sales may waive the early-cancellation charge for enterprise renewals.",
)
INVOICE_ARTICLE = KnowledgeArticle(
    article_id="KB-202",
    title="Finding and downloading invoices",
    category=Category.BILLING,
    answer="All invoices are under Settings > Billing > Invoices.",
)

REFUND_TICKET = Ticket(
    ticket_id="T-refund",
    subject="Refund for my annual plan",
    body="I cancelled the project and want a refund for the annual plan.",
)
CLEAN_DRAFT_TEXT = (
    "Hello,\n\nThank you for asking about a refund for your annual plan. You can request a refund "
    "within 30 days of a charge from Settings > Billing > Payment history.\n\nBest regards,\n"
    "The Support Team"
)


def bundled_articles() -> list[KnowledgeArticle]:
    raw = json.loads(
        (resources.files("activities.knowledge_base") / "articles.json").read_text(encoding="utf-8")
    )
    return [
        KnowledgeArticle.model_validate({k: v for k, v in a.items() if k != "keywords"})
        for a in raw
    ]


def classified(category: Category) -> Classification:
    return Classification(category=category, confidence=0.9, rationale="set by the test")


def codes(findings: list[Finding]) -> set[FindingCode]:
    return {f.code for f in findings}


def check(text: str, cited: list[str] | None = None) -> list[Finding]:
    draft = Draft(text=text, cited_articles=["KB-201"] if cited is None else cited)
    return validator.check_draft(REFUND_TICKET, draft, [REFUND_ARTICLE])


def draft_request(
    ticket: Ticket = REFUND_TICKET,
    *,
    articles: list[KnowledgeArticle] | None = None,
    priority: Priority = Priority.MEDIUM,
    revision: int = 1,
    findings: list[Finding] | None = None,
    reviewer_notes: str | None = None,
    previous_draft: str | None = None,
    category: Category = Category.BILLING,
) -> DraftRequest:
    return DraftRequest(
        ticket=ticket,
        classification=classified(category),
        priority=priority,
        articles=[REFUND_ARTICLE, PLANS_ARTICLE] if articles is None else articles,
        revision=revision,
        findings=findings or [],
        reviewer_notes=reviewer_notes,
        previous_draft=previous_draft,
        route=ROUTE,
    )


def finding(code: FindingCode) -> Finding:
    return Finding(code=code, message=f"{code} found by the test")
