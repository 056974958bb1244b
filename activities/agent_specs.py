"""The four ticket agents: what each reads, what it must produce, and its prompt.

LLM providers send ``instructions`` as the system prompt and ``render_input(request)`` as the user
message, and ask for ``output_model`` as structured output. The offline provider ignores prompts
and applies rules, but uses the same models, so every provider is interchangeable per agent.
"""

from activities.providers.base import AgentSpec
from shared.agents import (
    AgentRole,
    Classification,
    ClassifyRequest,
    Draft,
    DraftRequest,
    KnowledgeArticle,
    TriageRequest,
    TriageResult,
    ValidateRequest,
    Validation,
)
from shared.tickets import Ticket

CATEGORY_GUIDE = """\
- Technical: how-to, configuration, integrations, API usage, performance, outages.
- Billing: invoices, charges, refunds, payment methods, plans and prices, cancellation fees.
- Account: sign-up, login, passwords, two-factor, profile or e-mail changes, closing an account.
- Feature Request: asks for something the product does not do yet.
- Bug Report: the product does something wrong; an error, crash or incorrect result.
- General: anything else (orders, delivery, contact requests, feedback)."""


def _ticket_block(ticket: Ticket) -> str:
    return (
        f"Ticket {ticket.ticket_id} "
        f"(customer tier: {ticket.customer_tier}, channel: {ticket.channel})\n"
        f"Subject: {ticket.subject}\n"
        f"Body:\n{ticket.body}"
    )


def _articles_block(articles: list[KnowledgeArticle]) -> str:
    if not articles:
        return "Knowledge base: no matching article."
    parts = []
    for a in articles:
        note = (
            f"\n  Internal note (never share with the customer): {a.internal_note}"
            if a.internal_note
            else ""
        )
        parts.append(f"[{a.article_id}] {a.title}\n  {a.answer}{note}")
    return "Knowledge base articles:\n" + "\n".join(parts)


CLASSIFIER = AgentSpec(
    role=AgentRole.CLASSIFIER,
    input_model=ClassifyRequest,
    output_model=Classification,
    instructions=(
        "You classify customer-support tickets into exactly one category:\n"
        f"{CATEGORY_GUIDE}\n"
        "Give a confidence between 0 and 1 that reflects real doubt: below 0.6 when two categories "
        "fit or the ticket is unclear. Keep the rationale to one sentence."
    ),
    render_input=lambda r: _ticket_block(r.ticket),
)

TRIAGE = AgentSpec(
    role=AgentRole.TRIAGE,
    input_model=TriageRequest,
    output_model=TriageResult,
    instructions=(
        "You set the priority of a customer-support ticket: Low, Medium, High or Urgent.\n"
        "Urgent: an outage, a security incident, data loss, or many users blocked right now.\n"
        "High: one customer blocked (cannot log in, payment failing, errors stopping work).\n"
        "Medium: a problem with a workaround, or a question that affects work.\n"
        "Low: questions, feedback and feature requests with no impact today.\n"
        "Enterprise and premium customers move up one level, never to Urgent on tier alone. "
        "List the words in the ticket that drove your decision as cues."
    ),
    render_input=lambda r: (
        f"{_ticket_block(r.ticket)}\n\nCategory: {r.classification.category} "
        f"(confidence {r.classification.confidence:.2f})"
    ),
)

RESOLVER = AgentSpec(
    role=AgentRole.RESOLVER,
    input_model=DraftRequest,
    output_model=Draft,
    instructions=(
        "You write the reply a support agent would send to the customer.\n"
        "Ground every instruction in the knowledge-base articles given; cite the ids you used in "
        "cited_articles. If no article applies, say a specialist will follow up and ask for the "
        "details they will need. Never copy internal notes into the reply. Never guarantee "
        "outcomes or timelines, never promise compensation, never commit to release dates. "
        "Be concise, warm and specific; plain text, no markdown headings. When validator findings "
        "or reviewer notes are given, fix every one of them in this revision."
    ),
    render_input=lambda r: "\n\n".join(
        part
        for part in (
            _ticket_block(r.ticket),
            f"Category: {r.classification.category}; priority: {r.priority}; "
            f"revision: {r.revision}",
            _articles_block(r.articles),
            f"Previous draft:\n{r.previous_draft}" if r.previous_draft else "",
            "Validator findings to fix:\n"
            + "\n".join(f"- {f.code}: {f.message}" for f in r.findings)
            if r.findings
            else "",
            f"Reviewer notes to apply:\n{r.reviewer_notes}" if r.reviewer_notes else "",
        )
        if part
    ),
)

VALIDATOR = AgentSpec(
    role=AgentRole.VALIDATOR,
    input_model=ValidateRequest,
    output_model=Validation,
    instructions=(
        "You check a draft reply before it reaches a customer. Report a finding for each problem:\n"
        "- empty: the reply is empty or says nothing useful.\n"
        "- off_topic: it does not address what the customer asked.\n"
        "- forbidden_promise: it guarantees an outcome or timeline, promises compensation or "
        "commits to a release date.\n"
        "- internal_leak: it contains internal notes or anything marked internal.\n"
        "- ungrounded: it gives instructions no knowledge-base article supports.\n"
        "approved is true only when there are no findings."
    ),
    render_input=lambda r: (
        f"{_ticket_block(r.ticket)}\n\n{_articles_block(r.articles)}\n\n"
        f"Draft reply to check:\n{r.draft.text}\n\n"
        f"Cited articles: {', '.join(r.draft.cited_articles) or 'none'}"
    ),
)

SPECS = {spec.role: spec for spec in (CLASSIFIER, TRIAGE, RESOLVER, VALIDATOR)}
