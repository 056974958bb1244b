"""The offline resolver drafts from the knowledge base; the offline validator checks every draft."""

import json
from importlib import resources
from pathlib import Path

import pytest

from activities.knowledge_base import KnowledgeBase
from activities.providers.offline import resolver, validator
from activities.providers.offline.classifier import classify
from activities.providers.offline.triage import triage
from shared.agents import (
    AgentRoute,
    Category,
    Classification,
    Draft,
    DraftRequest,
    Finding,
    FindingCode,
    KnowledgeArticle,
    KnowledgeQuery,
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


# ---- validator -----------------------------------------------------------------------------------


def test_a_clean_grounded_draft_is_approved_without_findings() -> None:
    result = validator.validate(
        REFUND_TICKET, Draft(text=CLEAN_DRAFT_TEXT, cited_articles=["KB-201"]), [REFUND_ARTICLE]
    )

    assert result.approved is True
    assert result.findings == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("   ", id="blank"),
        pytest.param("See the refund docs.", id="short"),
        pytest.param("x" * (validator.MIN_USEFUL_CHARS - 1), id="one-char-short"),
    ],
)
def test_an_empty_or_too_short_draft_is_flagged_empty(text: str) -> None:
    result = validator.validate(
        REFUND_TICKET, Draft(text=text, cited_articles=["KB-201"]), [REFUND_ARTICLE]
    )

    assert result.approved is False
    assert codes(result.findings) == {FindingCode.EMPTY}


def test_a_draft_sharing_no_topic_with_the_ticket_is_flagged_off_topic() -> None:
    findings = check(
        "Our gardening newsletter covers tulips, roses and seasonal planting advice for spring."
    )

    assert codes(findings) == {FindingCode.OFF_TOPIC}


@pytest.mark.parametrize(
    "promise",
    [
        pytest.param("We guarantee the money is back by Friday.", id="we-guarantee"),
        pytest.param("I promise this will be sorted out.", id="i-promise"),
        pytest.param("We will offer compensation for the trouble.", id="compensation"),
        pytest.param("The fix will be released next week.", id="release-date"),
    ],
)
def test_a_forbidden_promise_is_flagged(promise: str) -> None:
    findings = check(f"{CLEAN_DRAFT_TEXT}\n\n{promise}")

    assert codes(findings) == {FindingCode.FORBIDDEN_PROMISE}
    assert promise[:40] in findings[0].message


@pytest.mark.parametrize(
    "marker",
    [
        pytest.param("Internal note: check the billing console first.", id="internal-note"),
        pytest.param("[internal] escalate to a team lead.", id="internal-tag"),
        pytest.param("TODO add the link to the payment history.", id="todo"),
    ],
)
def test_an_internal_marker_is_flagged_as_a_leak(marker: str) -> None:
    findings = check(f"{CLEAN_DRAFT_TEXT}\n\n{marker}")

    assert codes(findings) == {FindingCode.INTERNAL_LEAK}


def test_six_words_copied_from_an_article_internal_note_are_flagged_as_a_leak() -> None:
    note_words = REFUND_ARTICLE.internal_note.split()
    copied = " ".join(
        note_words[2 : 2 + validator.LEAK_WINDOW_WORDS]
    )  # "500 USD need a team lead's"

    findings = check(f"{CLEAN_DRAFT_TEXT}\n\nAbout the amount: {copied} sign-off.")

    assert codes(findings) == {FindingCode.INTERNAL_LEAK}


def test_fewer_than_six_copied_words_from_an_internal_note_are_not_a_leak() -> None:
    note_words = REFUND_ARTICLE.internal_note.split()
    copied = " ".join(note_words[2 : 2 + validator.LEAK_WINDOW_WORDS - 1])  # "500 USD need a team"

    findings = check(f"{CLEAN_DRAFT_TEXT}\n\nAbout the amount: {copied} sign-off.")

    assert findings == []


@pytest.mark.parametrize(
    "cited",
    [pytest.param([], id="uncited"), pytest.param(["KB-999"], id="cites-an-article-not-given")],
)
def test_a_draft_citing_none_of_the_given_articles_is_flagged_ungrounded(cited: list[str]) -> None:
    findings = check(CLEAN_DRAFT_TEXT, cited=cited)

    assert codes(findings) == {FindingCode.UNGROUNDED}


# ---- resolver ------------------------------------------------------------------------------------


def test_the_draft_is_grounded_in_the_first_article_and_cites_it_first() -> None:
    draft = resolver.draft(draft_request(articles=[REFUND_ARTICLE, PLANS_ARTICLE, INVOICE_ARTICLE]))

    assert REFUND_ARTICLE.answer in draft.text
    assert draft.cited_articles[0] == REFUND_ARTICLE.article_id
    # One more article may be offered as further reading; the rest are left out.
    assert draft.cited_articles == ["KB-201", "KB-205"]
    assert INVOICE_ARTICLE.answer not in draft.text


@pytest.mark.parametrize(
    "article", [pytest.param(a, id=a.article_id) for a in bundled_articles() if a.internal_note]
)
def test_the_draft_never_contains_internal_note_text(article: KnowledgeArticle) -> None:
    request = draft_request(articles=[article, *bundled_articles()], category=article.category)

    draft = resolver.draft(request)

    flat = " ".join(draft.text.split())
    assert article.internal_note not in flat
    for other in bundled_articles():
        if other.internal_note:
            assert other.internal_note not in flat


def test_the_first_draft_quotes_the_subject() -> None:
    draft = resolver.draft(draft_request())

    assert f'"{REFUND_TICKET.subject}"' in draft.text


@pytest.mark.parametrize("code", [FindingCode.FORBIDDEN_PROMISE, FindingCode.INTERNAL_LEAK])
def test_the_quote_is_dropped_when_it_carried_a_promise_or_internal_text(
    code: FindingCode,
) -> None:
    first = resolver.draft(draft_request())
    second = resolver.draft(
        draft_request(revision=2, findings=[finding(code)], previous_draft=first.text)
    )

    assert REFUND_TICKET.subject not in second.text
    assert "your billing question" in second.text


@pytest.mark.parametrize("code", [FindingCode.OFF_TOPIC, FindingCode.UNGROUNDED])
def test_the_quote_stays_for_findings_it_cannot_have_caused(code: FindingCode) -> None:
    first = resolver.draft(draft_request())
    second = resolver.draft(
        draft_request(revision=2, findings=[finding(code)], previous_draft=first.text)
    )

    assert f'"{REFUND_TICKET.subject}"' in second.text


def test_a_dropped_quote_stays_dropped_on_later_revisions() -> None:
    first = resolver.draft(draft_request())
    second = resolver.draft(
        draft_request(
            revision=2,
            findings=[finding(FindingCode.FORBIDDEN_PROMISE)],
            previous_draft=first.text,
        )
    )
    third = resolver.draft(
        draft_request(
            revision=3,
            findings=[finding(FindingCode.UNGROUNDED)],
            previous_draft=second.text,
            reviewer_notes="Mention the 30-day window.",
        )
    )

    assert REFUND_TICKET.subject not in third.text
    assert "your billing question" in third.text


def _sample(ticket_id: str) -> Ticket:
    for line in SAMPLES.read_text(encoding="utf-8").splitlines():
        if line.strip() and json.loads(line)["ticket_id"] == ticket_id:
            return Ticket.model_validate_json(line)
    raise LookupError(ticket_id)


def test_a_subject_promising_a_refund_is_fixed_in_one_revision() -> None:
    ticket = _sample("T-1016")
    assert ticket.subject == "Guarantee my refund by Friday"
    classification = classify(ticket)
    priority = triage(ticket, classification).priority
    articles = KnowledgeBase.bundled().search(
        KnowledgeQuery(category=classification.category, text=f"{ticket.subject}\n{ticket.body}")
    )
    assert articles, "the knowledge base should have a refund article for this ticket"

    def request(revision: int, findings: list[Finding], previous: str | None) -> DraftRequest:
        return DraftRequest(
            ticket=ticket,
            classification=classification,
            priority=priority,
            articles=articles,
            revision=revision,
            findings=findings,
            previous_draft=previous,
            route=ROUTE,
        )

    first = resolver.draft(request(1, [], None))
    first_check = validator.validate(ticket, first, articles)
    second = resolver.draft(request(2, first_check.findings, first.text))
    second_check = validator.validate(ticket, second, articles)

    assert codes(first_check.findings) == {FindingCode.FORBIDDEN_PROMISE}
    assert second_check.approved is True
    assert second_check.findings == []


REVIEWER_NOTES = [
    pytest.param("  Mention the 30-day refund window.  ", id="instruction"),
    pytest.param(
        "Internal: this customer has asked for refunds three times, do not offer another one.",
        id="internal-judgement",
    ),
    pytest.param("Point them to the invoices page instead", id="pointer"),
    pytest.param("ok", id="one-word"),
]


@pytest.mark.parametrize("notes", REVIEWER_NOTES)
def test_reviewer_notes_never_appear_in_the_draft(notes: str) -> None:
    without = resolver.draft(draft_request(revision=2))
    draft = resolver.draft(draft_request(revision=2, reviewer_notes=notes))

    flat = " ".join(draft.text.split())
    note_words = notes.split()
    # No run of four words of the notes reaches the customer, unless the reply said it anyway.
    for i in range(max(1, len(note_words) - 3)):
        run = " ".join(note_words[i : i + 4])
        assert run not in flat or run in " ".join(without.text.split()), run


def test_notes_that_point_at_an_article_make_it_lead_the_reply() -> None:
    draft = resolver.draft(
        draft_request(revision=2, reviewer_notes="Point them to the invoices page instead")
    )

    assert draft.cited_articles[0] == "KB-202"  # found in the bundled knowledge base
    assert draft.cited_articles[1] == REFUND_ARTICLE.article_id  # the ticket's own best article
    assert "Settings > Billing > Invoices" in draft.text
    assert "invoices page instead" not in draft.text


def test_notes_that_name_no_documented_topic_leave_the_draft_as_it_was() -> None:
    without = resolver.draft(draft_request(revision=2))
    with_notes = resolver.draft(draft_request(revision=2, reviewer_notes="Please be kinder."))

    assert with_notes == without


@pytest.mark.parametrize(
    ("priority", "following"),
    [
        (Priority.LOW, False),
        (Priority.MEDIUM, False),
        (Priority.HIGH, True),
        (Priority.URGENT, True),
    ],
)
def test_high_and_urgent_tickets_are_told_they_are_followed_closely(
    priority: Priority, following: bool
) -> None:
    draft = resolver.draft(draft_request(priority=priority))

    assert ("following it closely" in draft.text) is following
    if following:
        assert f"as {priority} priority" in draft.text


def test_without_articles_the_draft_asks_for_details_and_is_ungrounded() -> None:
    request = draft_request(articles=[])

    draft = resolver.draft(request)
    result = validator.validate(REFUND_TICKET, draft, [])

    assert draft.cited_articles == []
    assert "specialist" in draft.text
    assert "reply with any error messages" in draft.text
    assert result.approved is False
    assert FindingCode.UNGROUNDED in codes(result.findings)


# ---- the knowledge base against the policy -------------------------------------------------------


@pytest.mark.parametrize("article", [pytest.param(a, id=a.article_id) for a in bundled_articles()])
def test_a_draft_from_any_bundled_article_passes_the_promise_and_leak_checks(
    article: KnowledgeArticle,
) -> None:
    everything = bundled_articles()
    ticket = Ticket(
        ticket_id="T-kb",
        subject=article.title,
        body=f"I have a question about {article.title.lower()}.",
    )
    same_category = [a for a in everything if a.category is article.category and a != article]
    draft = resolver.draft(
        draft_request(
            ticket,
            articles=[article, *same_category],
            category=article.category,
            priority=Priority.HIGH,
        )
    )

    findings = validator.check_draft(ticket, draft, everything)

    assert article.answer in draft.text
    assert FindingCode.FORBIDDEN_PROMISE not in codes(findings)
    assert FindingCode.INTERNAL_LEAK not in codes(findings)


def test_a_lower_case_todo_in_a_reply_is_not_an_internal_marker() -> None:
    text = CLEAN_DRAFT_TEXT + " Add the refund request to your todo list."
    assert FindingCode.INTERNAL_LEAK not in codes(check(text))
    assert FindingCode.INTERNAL_LEAK in codes(check(CLEAN_DRAFT_TEXT + " TODO: check the amount."))


def test_only_greeting_and_sign_off_in_common_with_the_ticket_is_still_off_topic() -> None:
    ticket = Ticket(
        ticket_id="T-words",
        subject="Unclear reply to my message",
        body="Your last message was unclear; please reply again.",
    )
    unrelated = (
        "Hello,\n\nThank you for contacting us about your request.\n\nOur offices open at nine.\n\n"
        "If anything is unclear, just reply to this message and we will pick it up from there."
    )
    findings = validator.check_draft(
        ticket, Draft(text=unrelated, cited_articles=["KB-201"]), [REFUND_ARTICLE]
    )
    assert FindingCode.OFF_TOPIC in codes(findings)


@pytest.mark.parametrize("category", list(Category))
def test_a_reply_without_the_quoted_subject_names_the_topic_once(category: Category) -> None:
    request = draft_request(category=category, findings=[finding(FindingCode.FORBIDDEN_PROMISE)])
    opening = resolver.draft(request).text.split("\n\n")[1]
    assert opening.startswith("Thank you for contacting us about your ")
    assert "request request" not in opening and "report request" not in opening
