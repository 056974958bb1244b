"""When the offline classifier cannot know, its confidence says so (below the review threshold)."""

import json
from importlib import resources

import pytest

from activities.providers.offline.classifier import (
    NO_CUE_CONFIDENCE,
    classify,
    score_categories,
)
from activities.providers.offline.cues import CUES
from shared.agents import Category
from shared.pipeline_config import ReviewPolicyConfig
from shared.tickets import Ticket

THRESHOLD = ReviewPolicyConfig().min_confidence


def ticket(subject: str, body: str) -> Ticket:
    return Ticket(ticket_id="T-confidence", subject=subject, body=body)


# ---- other languages -----------------------------------------------------------------------------

OTHER_LANGUAGES = [
    pytest.param(
        "Rechnung doppelt bezahlt",
        "Hallo, wir haben die Rechnung für März zweimal bezahlt. Können Sie uns bitte das Geld "
        "zurückerstatten? Die Invoice-Nummer ist 4711.",
        "German",
        id="de",
    ),
    pytest.param(
        "Problema con la factura",
        "Hola, me cobraron dos veces la suscripción y necesito un refund, por favor.",
        "Spanish",
        id="es",
    ),
    pytest.param(
        "Mot de passe oublié",
        "Bonjour, je ne peux pas me connecter, le password ne marche pas. Merci de votre aide.",
        "French",
        id="fr",
    ),
    pytest.param(
        "Erro na API",
        "Olá, a API retorna erro 500 quando envio um webhook. Não sei o que fazer, preciso de "
        "ajuda.",
        "Portuguese",
        id="pt",
    ),
    # Read as English before (none of the five languages' words, but English "is" and "we"),
    # and answered with an English template.
    pytest.param(
        "Account geblokkeerd",
        "Hallo, ik kan niet inloggen op mijn account. Het is al twee dagen zo en we hebben het "
        "password al gereset. Kunnen jullie helpen? Bedankt",
        "Dutch",
        id="nl",
    ),
    pytest.param(
        "Fattura sbagliata",
        "Buongiorno, la fattura di questo mese è sbagliata: ci sono due addebiti per il nostro "
        "invoice. Potete controllare? Grazie",
        "Italian",
        id="it",
    ),
]


@pytest.mark.parametrize(("subject", "body", "language"), OTHER_LANGUAGES)
def test_a_ticket_in_another_language_is_sent_to_a_person_even_with_english_cues(
    subject: str, body: str, language: str
) -> None:
    # Each of these carries English cue words ("invoice", "refund", "password", "API").
    assert max(score_categories(f"{subject}\n{body}").values()) > 0

    result = classify(ticket(subject, body))

    assert result.confidence < THRESHOLD
    assert f"written in {language}" in result.rationale


def test_the_same_request_in_english_is_answered_with_confidence() -> None:
    result = classify(
        ticket("Invoice paid twice", "Hello, we paid the March invoice twice. Can you refund it?")
    )

    assert result.category is Category.BILLING
    assert result.confidence >= THRESHOLD


# ---- no strong cue -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        pytest.param("About my plan", "I have a question about the plan we are on.", id="plan"),
        pytest.param("Account", "Something is odd with our account.", id="account"),
        pytest.param("Order", "I want to buy something.", id="buy"),
        pytest.param("Errors", "We see some errors.", id="errors"),
    ],
)
def test_only_weak_cues_give_a_guess_below_the_threshold(subject: str, body: str) -> None:
    result = classify(ticket(subject, body))

    assert result.confidence < THRESHOLD
    assert "only weak cues" in result.rationale


def test_no_cue_at_all_is_general_below_the_threshold() -> None:
    result = classify(ticket("Hello", "Can someone get back to me about something?"))

    assert result.category is Category.GENERAL
    assert result.confidence == NO_CUE_CONFIDENCE < THRESHOLD


def test_strong_cues_of_two_categories_send_the_ticket_to_a_person() -> None:
    result = classify(
        ticket("Refund because the app crashes", "The app crashes on start; I want a refund.")
    )

    assert result.confidence < THRESHOLD
    assert "has a strong cue too" in result.rationale


# ---- not support for this product ----------------------------------------------------------------


def test_a_banking_question_is_not_taken_for_billing() -> None:
    result = classify(
        ticket("Card payment", "Why was my card payment charged a fee at the ATM yesterday?")
    )

    assert result.category is Category.GENERAL
    assert result.confidence < THRESHOLD
    assert "a question for a bank" in result.rationale


def test_a_github_style_issue_is_sent_to_a_person() -> None:
    body = (
        "### Describe the bug\nThe export crashes.\n\n```\nTypeError: x is undefined\n```\n"
        "**Environment**\n- Version: 1.2.3"
    )

    result = classify(ticket("Export crashes with TypeError", body))

    assert result.category is Category.BUG_REPORT
    assert result.confidence < THRESHOLD
    assert "developer's issue report" in result.rationale


def test_a_request_for_advice_is_sent_to_a_person() -> None:
    result = classify(
        ticket(
            "Integration advice",
            "We are seeking advice on best practices for our API integration strategy.",
        )
    )

    assert result.confidence < THRESHOLD
    assert "advice" in result.rationale


# ---- cues that came from a benchmark, not from the domain ----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("I expect a rebate of 1200 dollars", id="rebate"),
        pytest.param("I want a reimbursement of my money", id="reimbursement"),
        pytest.param("help me switch to the gold account", id="switch-account"),
        pytest.param("I am contacting you about the report", id="contacting"),
        pytest.param("Please address this issue soon", id="address-as-a-verb"),
        pytest.param("I reviewed the logs yesterday", id="reviewed"),
    ],
)
def test_benchmark_phrasing_is_no_strong_cue(text: str) -> None:
    result = classify(ticket(text, text))

    assert result.confidence < THRESHOLD, result.rationale


@pytest.mark.parametrize("word", ["rebate", "reimburs", "switch"])
def test_no_cue_pattern_names_a_benchmark_word(word: str) -> None:
    patterns = [cue.pattern.pattern for cues in CUES.values() for cue in cues]

    assert not [p for p in patterns if word in p]


@pytest.mark.parametrize("word", ["rebate", "reimburse"])
def test_no_knowledge_base_keyword_is_a_benchmark_word(word: str) -> None:
    raw = json.loads(
        (resources.files("activities.knowledge_base") / "articles.json").read_text("utf-8")
    )

    assert not [a["article_id"] for a in raw if word in a.get("keywords", [])]


def test_three_digits_are_not_an_http_status() -> None:
    # "sums to 1,420" once matched the Technical cue for a 4xx status.
    assert score_categories("the rows sum to 1,420 and 1,240")[Category.TECHNICAL] == 0
    assert score_categories("the api returns 429 errors")[Category.TECHNICAL] > 0
