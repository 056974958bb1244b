"""The ticket as it enters the system, its derived id, and a reviewer's decision."""

import pytest
from pydantic import ValidationError

from shared.review import ReviewAction, ReviewDecision
from shared.tickets import (
    MAX_BODY_CHARS,
    MAX_SUBJECT_CHARS,
    Channel,
    CustomerTier,
    Ticket,
    derive_ticket_id,
)


def make_ticket(**overrides: object) -> Ticket:
    fields: dict[str, object] = {"ticket_id": "T-1001", "subject": "Password", "body": "Help me"}
    return Ticket.model_validate(fields | overrides)


# ---- Ticket --------------------------------------------------------------------------------------


def test_a_minimal_ticket_gets_the_default_tier_and_channel() -> None:
    ticket = make_ticket()
    assert ticket.customer_tier is CustomerTier.STANDARD
    assert ticket.channel is Channel.EMAIL
    assert ticket.customer_id is None


def test_the_subject_is_stripped_and_collapsed_to_one_line() -> None:
    ticket = make_ticket(subject="  Cannot\n log in \t  since  Monday \r\n")
    assert ticket.subject == "Cannot log in since Monday"


def test_the_body_is_stripped_but_keeps_its_lines() -> None:
    ticket = make_ticket(body="\n  Hello,\nit broke.  \n")
    assert ticket.body == "Hello,\nit broke."


@pytest.mark.parametrize("body", ["", "   ", "\n\t\n"])
def test_an_empty_body_is_refused(body: str) -> None:
    with pytest.raises(ValidationError, match="body"):
        make_ticket(body=body)


@pytest.mark.parametrize("subject", ["", "  \n "])
def test_an_empty_subject_is_refused(subject: str) -> None:
    with pytest.raises(ValidationError, match="subject"):
        make_ticket(subject=subject)


def test_a_body_at_the_limit_is_accepted() -> None:
    assert len(make_ticket(body="x" * MAX_BODY_CHARS).body) == MAX_BODY_CHARS


def test_a_body_over_the_limit_is_refused() -> None:
    with pytest.raises(ValidationError, match="body"):
        make_ticket(body="x" * (MAX_BODY_CHARS + 1))


def test_a_subject_over_the_limit_is_refused() -> None:
    with pytest.raises(ValidationError, match="subject"):
        make_ticket(subject="s" * (MAX_SUBJECT_CHARS + 1))


@pytest.mark.parametrize("ticket_id", ["T-1001", "a", "ticket_7.v2", "9" * 64, "A-b.C_d"])
def test_a_well_formed_ticket_id_is_accepted(ticket_id: str) -> None:
    assert make_ticket(ticket_id=ticket_id).ticket_id == ticket_id


@pytest.mark.parametrize(
    "ticket_id",
    ["", "-leading-dash", ".hidden", "has space", "a" * 65, "tab\there", "ünïcode", "T-1\n", "a/b"],
)
def test_a_malformed_ticket_id_is_refused(ticket_id: str) -> None:
    with pytest.raises(ValidationError, match="ticket_id"):
        make_ticket(ticket_id=ticket_id)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="priority"):
        make_ticket(priority="High")


def test_a_ticket_cannot_be_changed_once_made() -> None:
    ticket = make_ticket()
    with pytest.raises(ValidationError):
        ticket.subject = "Something else"  # type: ignore[misc]
    assert ticket.subject == "Password"


# ---- derive_ticket_id ----------------------------------------------------------------------------


def test_a_derived_id_is_stable_for_the_same_content() -> None:
    first = derive_ticket_id("Password", "Help me", "C-1")
    assert first == derive_ticket_id("Password", "Help me", "C-1")


def test_surrounding_whitespace_does_not_change_the_derived_id() -> None:
    assert derive_ticket_id(" Password ", "\nHelp me\n", "C-1") == derive_ticket_id(
        "Password", "Help me", "C-1"
    )


@pytest.mark.parametrize(
    ("subject", "body", "customer"),
    [
        ("Password!", "Help me", "C-1"),
        ("Password", "Help me!", "C-1"),
        ("Password", "Help me", "C-2"),
        ("Password", "Help me", None),
        # The separator keeps field boundaries: moving text between fields is different content.
        ("PasswordHelp", "me", "C-1"),
    ],
)
def test_different_content_gets_a_different_id(
    subject: str, body: str, customer: str | None
) -> None:
    assert derive_ticket_id(subject, body, customer) != derive_ticket_id(
        "Password", "Help me", "C-1"
    )


def test_a_derived_id_starts_with_t_and_is_a_valid_ticket_id() -> None:
    derived = derive_ticket_id("Password", "Help me", None)
    assert derived.startswith("T-")
    assert len(derived) == 14
    assert make_ticket(ticket_id=derived).ticket_id == derived


# ---- ReviewDecision ------------------------------------------------------------------------------


def test_an_approval_needs_nothing_else() -> None:
    decision = ReviewDecision(action=ReviewAction.APPROVE)
    assert decision.reviewer == "reviewer"
    assert decision.revision is None


@pytest.mark.parametrize(
    ("action", "missing"),
    [
        (ReviewAction.EDIT, "edited_text"),
        (ReviewAction.REWORK, "notes"),
        (ReviewAction.REJECT, "reason"),
    ],
)
def test_an_action_without_its_required_text_is_refused(action: ReviewAction, missing: str) -> None:
    with pytest.raises(ValidationError, match=missing):
        ReviewDecision(action=action)
    with pytest.raises(ValidationError, match=missing):
        ReviewDecision.model_validate({"action": action, missing: "   "})


@pytest.mark.parametrize(
    ("action", "field"),
    [
        (ReviewAction.EDIT, "edited_text"),
        (ReviewAction.REWORK, "notes"),
        (ReviewAction.REJECT, "reason"),
    ],
)
def test_an_action_with_its_required_text_is_accepted(action: ReviewAction, field: str) -> None:
    decision = ReviewDecision.model_validate({"action": action, field: "Please be kinder."})
    assert getattr(decision, field) == "Please be kinder."


def test_an_edit_with_only_notes_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="edited_text"):
        ReviewDecision(action=ReviewAction.EDIT, notes="wrong field")


def test_a_review_of_revision_zero_is_refused() -> None:
    with pytest.raises(ValidationError, match="revision"):
        ReviewDecision(action=ReviewAction.APPROVE, revision=0)


def test_the_subject_limit_applies_to_the_subject_as_stored() -> None:
    ticket = Ticket(ticket_id="T-ws", subject="a" + " " * 250 + "b", body="Body.")
    assert ticket.subject == "a b"


def test_the_same_subject_with_other_spacing_gets_the_same_derived_id() -> None:
    assert derive_ticket_id("Hello  world", "Body", None) == derive_ticket_id(
        "Hello world\n", "Body", None
    )


def test_nul_characters_are_dropped_from_every_text_that_reaches_the_delivery_ledger() -> None:
    # PostgreSQL's text columns refuse NUL: the shared ledger failed every attempt to record
    # such an answer, and the ticket ended DELIVERY_FAILED hours later.
    from shared.agents import Draft
    from shared.review import ReviewAction, ReviewDecision

    ticket = Ticket(ticket_id="T-NUL", subject="Hel\x00lo", body="bo\x00dy", customer_id="C-\x001")
    draft = Draft(text="An ans\x00wer.")
    edit = ReviewDecision(action=ReviewAction.EDIT, edited_text="Ed\x00ited.", reviewer="a\x00na")

    assert (ticket.subject, ticket.body, ticket.customer_id) == ("Hello", "body", "C-1")
    assert draft.text == "An answer."
    assert (edit.edited_text, edit.reviewer) == ("Edited.", "ana")
    with pytest.raises(ValidationError):
        Ticket(ticket_id="T-NUL", subject="\x00", body="body")  # nothing left: refused
