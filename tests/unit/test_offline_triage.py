"""Offline triage: priority from urgency cues, then raised one level for paying tiers."""

import pytest

from activities.providers.offline.triage import triage
from shared.agents import Category, Classification, Priority
from shared.tickets import CustomerTier, Ticket


def ticket(subject: str, body: str, tier: CustomerTier = CustomerTier.STANDARD) -> Ticket:
    return Ticket(ticket_id="T-triage", subject=subject, body=body, customer_tier=tier)


def classified(category: Category) -> Classification:
    return Classification(category=category, confidence=0.9, rationale="set by the test")


# (subject, body, category, expected priority, a cue that must be reported)
PRIORITY_TABLE = [
    pytest.param(
        "Outage in the EU region",
        "Nothing loads for anyone in our workspace.",
        Category.TECHNICAL,
        Priority.URGENT,
        "outage",
        id="outage-is-urgent",
    ),
    pytest.param(
        "Suspicious activity",
        "We think there was a security breach in our workspace.",
        Category.ACCOUNT,
        Priority.URGENT,
        "security breach",
        id="security-breach-is-urgent",
    ),
    pytest.param(
        "Strange logins",
        "There was unauthorized access to our workspace; passwords have been reset.",
        Category.ACCOUNT,
        Priority.URGENT,
        "unauthorized access",
        id="unauthorized-access-is-urgent",
    ),
    pytest.param(
        "Projects are empty",
        "After the import we had data loss in two projects.",
        Category.BUG_REPORT,
        Priority.URGENT,
        "data loss",
        id="data-loss-is-urgent",
    ),
    pytest.param(
        "Login problem",
        "I cannot log in since this morning.",
        Category.ACCOUNT,
        Priority.HIGH,
        "cannot log in",
        id="cannot-log-in-is-high",
    ),
    pytest.param(
        "Duplicate payment",
        "My card was charged twice for March.",
        Category.BILLING,
        Priority.HIGH,
        "charged twice",
        id="charged-twice-is-high",
    ),
    pytest.param(
        "Export formats",
        "Just a question: can exports include comments?",
        Category.TECHNICAL,
        Priority.LOW,
        "question",
        id="question-is-low",
    ),
    pytest.param(
        "Dark mode",
        "A dark mode would be nice for late evenings.",
        Category.FEATURE_REQUEST,
        Priority.LOW,
        "would be nice",
        id="wish-is-low",
    ),
]


@pytest.mark.parametrize(("subject", "body", "category", "expected", "cue"), PRIORITY_TABLE)
def test_urgency_cues_set_the_priority_and_are_reported(
    subject: str, body: str, category: Category, expected: Priority, cue: str
) -> None:
    result = triage(ticket(subject, body), classified(category))

    assert result.priority is expected
    assert cue in result.cues
    assert str(expected) in result.rationale


def test_a_feature_request_without_cues_is_low() -> None:
    result = triage(
        ticket("Offline mode for the mobile app", "Offline mode in the mobile app."),
        classified(Category.FEATURE_REQUEST),
    )

    assert result.priority is Priority.LOW
    assert result.cues == []


def test_a_ticket_without_cues_is_medium_with_no_cues() -> None:
    result = triage(
        ticket("Invoice address", "Please update the address printed on my invoices."),
        classified(Category.BILLING),
    )

    assert result.priority is Priority.MEDIUM
    assert result.cues == []


def test_urgent_cues_win_over_blocking_cues_and_only_they_are_reported() -> None:
    result = triage(
        ticket("Outage", "There is an outage and every request fails with an error."),
        classified(Category.TECHNICAL),
    )

    assert result.priority is Priority.URGENT
    assert result.cues == ["outage"]


def test_every_matched_cue_is_listed() -> None:
    result = triage(
        ticket("URGENT: production is down", "Emergency, all our users see a 502."),
        classified(Category.TECHNICAL),
    )

    assert result.priority is Priority.URGENT
    assert {"urgent", "emergency", "is down", "all our users"} <= set(result.cues)


# One ticket per starting priority, all without tier effects of their own.
LOW = ("Export formats", "Just a question: can exports include comments?")
MEDIUM = ("Invoice address", "Please update the address printed on my invoices.")
HIGH = ("Login problem", "I cannot log in since this morning.")
URGENT = ("Outage in the EU region", "There is an outage for everyone.")


@pytest.mark.parametrize("tier", [CustomerTier.ENTERPRISE, CustomerTier.PREMIUM])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(LOW, Priority.MEDIUM, id="low-to-medium"),
        pytest.param(MEDIUM, Priority.HIGH, id="medium-to-high"),
        pytest.param(HIGH, Priority.HIGH, id="high-stays-high"),
        pytest.param(URGENT, Priority.URGENT, id="urgent-stays-urgent"),
    ],
)
def test_paying_tiers_raise_one_level_but_never_reach_urgent_on_tier_alone(
    tier: CustomerTier, text: tuple[str, str], expected: Priority
) -> None:
    result = triage(ticket(*text, tier=tier), classified(Category.BILLING))

    assert result.priority is expected


@pytest.mark.parametrize("text", [LOW, MEDIUM])
@pytest.mark.parametrize("tier", [CustomerTier.ENTERPRISE, CustomerTier.PREMIUM])
def test_a_raise_for_the_tier_is_explained(tier: CustomerTier, text: tuple[str, str]) -> None:
    result = triage(ticket(*text, tier=tier), classified(Category.BILLING))

    assert f"raised to {result.priority}" in result.rationale
    assert str(tier) in result.rationale


@pytest.mark.parametrize("tier", [CustomerTier.FREE, CustomerTier.STANDARD])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(LOW, Priority.LOW, id="low"),
        pytest.param(MEDIUM, Priority.MEDIUM, id="medium"),
        pytest.param(HIGH, Priority.HIGH, id="high"),
        pytest.param(URGENT, Priority.URGENT, id="urgent"),
    ],
)
def test_free_and_standard_tiers_leave_the_priority_unchanged(
    tier: CustomerTier, text: tuple[str, str], expected: Priority
) -> None:
    result = triage(ticket(*text, tier=tier), classified(Category.BILLING))

    assert result.priority is expected
    assert "raised" not in result.rationale


@pytest.mark.parametrize(
    "body",
    [
        "This is not urgent, just a question about exports.",
        "No emergency here, I was wondering about exports.",
        "It isn't critical, when you get a chance.",
        "A non-urgent question about exports.",
        "Exports look odd.\n\nIf you received this in error, please notify the sender "
        "immediately and delete it.",
        "Exports look odd.\n\nIf this reached you by mistake, please notify us immediately.",
    ],
)
def test_a_negated_urgency_cue_does_not_make_a_ticket_urgent(body: str) -> None:
    result = triage(ticket("Exports", body), classified(Category.GENERAL))
    assert result.priority is not Priority.URGENT


def test_doesnt_without_an_apostrophe_still_means_something_is_broken() -> None:
    result = triage(
        ticket("Export", "The export button doesnt work at all."), classified(Category.BUG_REPORT)
    )
    assert result.priority is Priority.HIGH


# Tickets a person must answer: someone else in the account, a payment the customer did not
# make, a legal threat. Each reads as an ordinary request to the other cues (Medium or High).
ESCALATIONS = [
    pytest.param(
        "Strange emails",
        "Someone logged into my account last night and changed my email without asking me.",
        "someone logged into",
        id="someone-else-in-the-account",
    ),
    pytest.param(
        "Account",
        "I think somebody has taken over my account, the name on it is not mine.",
        "taken over my account",
        id="account-taken-over",
    ),
    pytest.param(
        "Charge on my card",
        "There is a charge of 49 EUR that I never authorised.",
        "charge of 49 eur that i never authorised",
        id="a-charge-never-authorised",
    ),
    pytest.param(
        "Card statement",
        "I don\u2019t recognize these transactions from your company on my statement.",
        "don't recognize these transactions",
        id="unrecognised-transactions-curly-apostrophe",
    ),
    pytest.param(
        "Invoice",
        "I did not make this purchase, please explain the invoice.",
        "did not make this purchase",
        id="purchase-not-made",
    ),
    pytest.param(
        "Refund",
        "If I do not get my refund this week my lawyer will handle it.",
        "my lawyer",
        id="lawyer",
    ),
    pytest.param(
        "Refund",
        "Refund me or I will take legal action.",
        "legal action",
        id="legal-action",
    ),
    pytest.param(
        "Rückerstattung",
        "Wenn das nicht geklärt wird, schalte ich meinen Anwalt ein.",
        "anwalt",
        id="german-lawyer",
    ),
    pytest.param(
        "Addebito",
        "Ho trovato un addebito che non ho fatto: è una truffa.",
        "truffa",
        id="italian-fraud",
    ),
    pytest.param(
        "Terugbetaling",
        "Als dit niet wordt opgelost, neem ik juridische stappen.",
        "juridische stappen",
        id="dutch-legal-steps",
    ),
]


@pytest.mark.parametrize(("subject", "body", "cue"), ESCALATIONS)
def test_what_a_person_must_answer_is_urgent_and_says_why(
    subject: str, body: str, cue: str
) -> None:
    result = triage(ticket(subject, body), classified(Category.BILLING))

    assert result.priority is Priority.URGENT
    assert cue in result.cues
    assert "a person must answer" in result.rationale


@pytest.mark.parametrize(
    "body",
    [
        "Sorry, I didn't make the payment on time this month; can I pay now?",
        "Can someone log in to the admin panel for me? I have no access yet.",
        "Which payment methods do you accept for annual plans?",
        "Someone got in touch with me about my order, is that you?",
        "Die Rechnung betrug 49 Euro, warum wurde mehr abgebucht?",
        "How does your fraud detection work for card payments?",
        "A new admin has taken over our account management, please update the contact.",
        "I changed my password without any problem, but the app still asks for the old one.",
        "There is an issue with my invoice, could you take a look?",
        "Somebody from your team promised a call back.",
    ],
)
def test_ordinary_payment_and_login_questions_are_not_escalated(body: str) -> None:
    result = triage(ticket("Question", body), classified(Category.BILLING))

    assert result.priority is not Priority.URGENT
    assert "a person must answer" not in result.rationale


def test_a_typographic_apostrophe_reads_as_a_plain_one() -> None:
    result = triage(
        ticket("Login", "I can\u2019t log in since the update."), classified(Category.ACCOUNT)
    )
    assert result.priority is Priority.HIGH
    assert "can't log in" in result.cues


def test_a_run_of_question_marks_is_one_question() -> None:
    one = triage(ticket("Export", "Why is my export empty???"), classified(Category.BUG_REPORT))
    three = triage(
        ticket("Export", "Why is it empty? Which format? Can I retry?"),
        classified(Category.BUG_REPORT),
    )
    assert not one.complex
    assert three.complex


@pytest.mark.parametrize(
    "body",
    [
        "Refund my invoice now or I will sue.",
        "Refund my invoice or I am suing your company.",
        "If you do not refund my invoice I will see you in court.",
        "I will file a claim in small claims court.",
        "I will dispute the charge with my bank.",
        # The cue came after "not refunded", read as its negation: the threat went out unread.
        "If this is not refunded my lawyer will contact you.",
        "If this isn't refunded my attorney will be in touch.",
        # Someone else in the account: "use Forgot password" goes to an address they may hold.
        "Someone accessed my account and changed my password. I cannot log in anymore.",
        # A reviewer's wordings that went to no person (2026-12-07): each a common way to say it.
        "I want a refund for my last invoice. I have already contacted an attorney about it.",
        "I will take your company to court over this invoice.",
        "Refund the duplicate charge or I intend to sue.",
        "Somebody logged into my account last night.",
        "Someone hacked my account and placed orders.",
        "My account has been taken over by someone.",
        "A stranger changed my password yesterday.",
        "These payments were fraudulently made on my card.",
        # Wrapped as plain-text mail is, at 72 columns: the line break read as no space.
        "I have kept every e-mail and I will hand it all over to my\nlawyer.",
        "Since Monday someone else has logged\ninto my account.",
        "There is a payment on my card I never authorized this\ncharge is not mine.",
        # Plurals, feminine forms, German threats and takeovers.
        "Ich werde Sie verklagen. Meine Anwältin ist informiert.",
        "Unsere Anwälte prüfen die Rechnung.",
        "Wir sehen uns vor Gericht.",
        "Mein Konto wurde gehackt.",
        "Nos avocats vous contacteront.",
        "Mis abogados se pondrán en contacto.",
        "I miei avvocati vi contatteranno.",
    ],
)
def test_a_legal_threat_or_an_account_taken_over_goes_to_a_person(body: str) -> None:
    result = triage(ticket("Invoice", body), classified(Category.BILLING))
    assert result.priority is Priority.URGENT, result
