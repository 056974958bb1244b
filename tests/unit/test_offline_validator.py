"""The offline validator checks every draft: grounding, topic, promises, internal text."""

import pytest

from activities.providers.offline import resolver, validator
from shared.agents import (
    Draft,
    FindingCode,
    KnowledgeArticle,
    Priority,
)
from shared.tickets import Ticket
from tests.support.offline_drafts import (
    CLEAN_DRAFT_TEXT,
    REFUND_ARTICLE,
    REFUND_TICKET,
    bundled_articles,
    check,
    codes,
    draft_request,
)


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
        pytest.param("This will not happen again, you have our word.", id="will-not-again"),
        pytest.param("You will have the refund by tomorrow.", id="by-tomorrow"),
        pytest.param("We are adding a free month to your plan.", id="free-month"),
        # A day, a date or a span for the outcome, and free time, said other ways.
        pytest.param("This will be fixed by Monday.", id="fixed-by-a-day"),
        pytest.param("You will be refunded within 24 hours.", id="refunded-within-hours"),
        pytest.param("You'll have your money back by Friday.", id="money-back-by-a-day"),
        pytest.param("We will give you one month free.", id="one-month-free"),
    ],
)
def test_a_forbidden_promise_is_flagged(promise: str) -> None:
    findings = check(f"{CLEAN_DRAFT_TEXT}\n\n{promise}")

    assert codes(findings) == {FindingCode.FORBIDDEN_PROMISE}
    assert promise[:40] in findings[0].message


@pytest.mark.parametrize(
    "honest",
    [
        pytest.param("We cannot guarantee a date for this change yet.", id="cannot-guarantee"),
        pytest.param("Delivery times are not guaranteed by the carrier.", id="not-guaranteed"),
        pytest.param("The team will look at it tomorrow.", id="tomorrow-without-by"),
        # What the knowledge base says of the bank's and the billing system's own times.
        pytest.param(
            "Once a refund is approved, your bank usually shows it within 5 to 10 business days.",
            id="the-banks-time",
        ),
        pytest.param(
            "If a payment failed, we retry the charge automatically within 24 hours.",
            id="the-retry-time",
        ),
        pytest.param("We will refund the duplicate.", id="a-refund-with-no-date"),
    ],
)
def test_saying_what_cannot_be_promised_is_not_a_promise(honest: str) -> None:
    findings = check(f"{CLEAN_DRAFT_TEXT}\n\n{honest}")

    assert FindingCode.FORBIDDEN_PROMISE not in codes(findings)


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


def test_a_note_copied_with_other_punctuation_is_still_a_leak() -> None:
    """Split on spaces, the note's "BOM;" never matched the draft's "BOM.": a root cause and an
    engineering ticket id reached the customer."""
    article = REFUND_ARTICLE.model_copy(
        update={"internal_note": "Root cause is the missing BOM; fix tracked as ENG-4411."}
    )
    text = f"{CLEAN_DRAFT_TEXT}\n\nRoot cause is the missing BOM. Fix tracked as ENG-4411."
    findings = validator.check_draft(
        REFUND_TICKET, Draft(text=text, cited_articles=["KB-201"]), [article]
    )
    assert FindingCode.INTERNAL_LEAK in codes(findings)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (
            "I\u2019ve gone ahead and refunded your order, sorry for the trouble.",
            "forbidden_promise",
        ),
        (
            "We\u2019ll waive the cancellation fee for you this time, as a gesture.",
            "forbidden_promise",
        ),
        (
            "You\u2019ll receive a full refund for the order you placed last week.",
            "forbidden_promise",
        ),
        ("Internal\u00a0note: check the ledger before replying to this customer.", "internal_leak"),
        (
            "TO\u200bDO: write the real answer to this ticket before sending it out.",
            "internal_leak",
        ),
    ],
    ids=["curly-ive", "curly-well", "curly-youll", "no-break-space", "zero-width-space"],
)
def test_a_promise_or_a_label_typed_with_look_alike_characters_is_found(
    text: str, code: str
) -> None:
    # A review (2026-12-07): the rules were written for the plain apostrophe and space, and a
    # curly one (phones and word processors type it), a no-break space or a zero-width space
    # let a refund promise or an internal note through, the rule that overrides a model's
    # verdict included.
    found = validator.policy_findings(Draft(text=text, cited_articles=[]), [])
    assert [f.code.value for f in found] == [code]
