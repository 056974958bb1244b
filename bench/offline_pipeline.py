"""One ticket through the offline agents in-process, as the ticket workflow runs them (no Temporal):
classifier, triage, knowledge-base search, the resolver and the validator with the workflow's
revision rounds, then the review policy. Complex tickets take the single-resolver path here (the
workflow drafts them with an orchestrator run); the validator and the policy are the same."""

from dataclasses import dataclass

from activities.knowledge_base import KnowledgeBase
from activities.providers.offline import classifier, resolver, triage, validator
from policy.review_policy import review_needs
from policy.trimming import DEFAULT_BODY_TOKEN_BUDGET, search_text, trim_body
from shared.agents import AgentRoute, Category, DraftRequest, Finding, KnowledgeQuery
from shared.pipeline_config import PipelineConfig
from shared.tickets import Ticket

ROUTE = AgentRoute(provider="offline", model="offline-rules-v1")


@dataclass(frozen=True)
class Outcome:
    category: Category
    confidence: float
    review_reasons: list[str]
    grounded: bool
    revision_rounds: int

    @property
    def answered_without_a_person(self) -> bool:
        return not self.review_reasons


def run_offline(
    ticket: Ticket,
    kb: KnowledgeBase,
    config: PipelineConfig,
    body_tokens: int = DEFAULT_BODY_TOKEN_BUDGET,
) -> Outcome:
    # As the ticket workflow searches (search_text trims the body to the default budget).
    searched = search_text(ticket.subject, ticket.body)
    # And as the agent activities read it: every agent gets the body trimmed to the worker's
    # budget (agent_activities.AgentActivities._run; [trimming] body_tokens).
    ticket = ticket.model_copy(update={"body": trim_body(ticket.body, body_tokens).text})
    c = classifier.classify(ticket)
    priority = triage.triage(ticket, c).priority
    articles = kb.search(KnowledgeQuery(category=c.category, text=searched))
    findings: list[Finding] = []
    previous: str | None = None
    rounds = 0
    while True:
        draft = resolver.draft(
            DraftRequest(
                ticket=ticket,
                classification=c,
                priority=priority,
                articles=articles,
                revision=rounds + 1,
                findings=findings,
                previous_draft=previous,
                route=ROUTE,
            )
        )
        findings = validator.validate(ticket, draft, articles).findings
        if not findings or rounds >= config.max_revision_rounds:
            break
        rounds, previous = rounds + 1, draft.text
    needs = review_needs(
        config.review,
        category=c.category,
        confidence=c.confidence,
        priority=priority,
        validator_findings=findings,
        revision_rounds=rounds,
        rework_requested=False,
    )
    return Outcome(
        category=c.category,
        confidence=c.confidence,
        review_reasons=[need.text for need in needs],
        grounded=bool(draft.cited_articles),
        revision_rounds=rounds,
    )
