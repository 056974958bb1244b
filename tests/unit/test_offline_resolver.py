"""The offline resolver drafts from the knowledge base and revises what the validator sent back."""

import json

import pytest

from activities.knowledge_base import KnowledgeBase
from activities.providers.offline import resolver, validator
from activities.providers.offline.classifier import classify
from activities.providers.offline.triage import triage
from shared.agents import (
    Category,
    DraftRequest,
    Finding,
    FindingCode,
    KnowledgeArticle,
    KnowledgeQuery,
    Priority,
)
from shared.tickets import Ticket
from tests.support.offline_drafts import (
    INVOICE_ARTICLE,
    PLANS_ARTICLE,
    REFUND_ARTICLE,
    REFUND_TICKET,
    ROUTE,
    SAMPLES,
    bundled_articles,
    codes,
    draft_request,
    finding,
)


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


@pytest.mark.parametrize("category", list(Category))
def test_a_reply_without_the_quoted_subject_names_the_topic_once(category: Category) -> None:
    request = draft_request(category=category, findings=[finding(FindingCode.FORBIDDEN_PROMISE)])
    opening = resolver.draft(request).text.split("\n\n")[1]
    assert opening.startswith("Thank you for contacting us about your ")
    assert "request request" not in opening and "report request" not in opening


@pytest.mark.parametrize(
    "subject",
    [
        "Card 4111 1111 1111 1111 exp 09/27 CVV 123 charged twice",
        "Charged twice on 5500-0000-0000-0004",
        "Login fails, my password: Hunter2!2024",
        "Declined although the CVV 123 is right",
    ],
)
def test_a_subject_carrying_a_card_or_a_password_is_not_quoted_back(subject: str) -> None:
    # Quoted, the reply carried the card number, its expiry and code verbatim, and went out.
    ticket = Ticket(ticket_id="T-1", subject=subject, body="My card was charged twice.")
    draft = resolver.draft(draft_request(ticket))
    assert subject not in draft.text
    assert not any(secret in draft.text for secret in ("4111", "0004", "Hunter2", "CVV 123"))


@pytest.mark.parametrize(
    "subject", ["Cancel purchase 113542617735902", "Reset password", "Order 732201349959"]
)
def test_a_subject_with_an_order_number_or_the_word_password_is_still_quoted(
    subject: str,
) -> None:
    ticket = Ticket(ticket_id="T-1", subject=subject, body="Please help with this.")
    assert f'"{subject}"' in resolver.draft(draft_request(ticket)).text


@pytest.mark.parametrize(
    ("subject", "secret"),
    [
        ("Cannot log in - my password is Hunter2!", True),
        ("mein Passwort ist sommer2024", True),
        ("pw = hunter2", True),
        ("Password reset does not work", False),
        ("I forgot my password", False),
    ],
)
def test_a_password_said_in_words_in_the_subject_is_a_secret(subject: str, secret: bool) -> None:
    # A review (2026-12-07): only a password after ":" or "=" counted; "my password is
    # Hunter2!" was quoted back in the reply, sent with no review.
    assert resolver.carries_a_secret(subject) is secret
