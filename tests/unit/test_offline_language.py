"""Language detection by function words: cheap, and enough to know what the rules cannot read."""

import pytest

from activities.providers.offline.language import ENGLISH, OTHER, detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        pytest.param("I was charged twice for my subscription, can you help?", "en", id="en"),
        pytest.param(
            "Ich habe die Rechnung für März nicht erhalten, können Sie mir bitte helfen?",
            "de",
            id="de",
        ),
        pytest.param(
            "Hola, no puedo acceder a mi cuenta y necesito ayuda con el pago.", "es", id="es"
        ),
        pytest.param(
            "Bonjour, je ne peux pas me connecter à mon compte depuis hier, merci.", "fr", id="fr"
        ),
        pytest.param(
            "Olá, não consigo acessar minha conta, preciso de ajuda com a fatura.", "pt", id="pt"
        ),
        pytest.param(
            "Het is niet mogelijk om de factuur te downloaden, we hebben het al geprobeerd.",
            "nl",
            id="nl",
        ),
        pytest.param(
            "Non riesco ad accedere al mio account, potete aiutarmi? Grazie.", "it", id="it"
        ),
    ],
)
def test_each_language_is_recognised_by_its_function_words(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_english_technical_words_in_a_german_ticket_do_not_make_it_english() -> None:
    text = (
        "Die API-Integration mit dem Server ist seit dem Update fehlerhaft, bitte prüfen Sie das."
    )

    assert detect_language(text) == "de"


def test_a_terse_ticket_without_function_words_has_no_language() -> None:
    assert detect_language("Invoice missing") is None
    assert detect_language("") is None


def test_hyphenated_english_words_are_not_read_as_portuguese() -> None:
    # "e-mail" split at the hyphen would leave Portuguese "e" behind.
    assert detect_language("e-mail e-mail e-mail re-send") is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        # English "is" and "we" in Dutch; Italian "i" is English "I": each was read as English
        # and answered with an English template. Words several languages share ("de", "la")
        # count for each of them a share.
        ("De invoice is fout, we hebben te veel betaald.", "nl"),
        ("Is de password reset link kapot? We krijgen geen mail.", "nl"),
        ("Non vedo i pagamenti del mese scorso", "it"),
        # Named Spanish before, by the words Spanish shares with them.
        ("De factuur en de betaling kloppen niet", "nl"),
        ("Ho dimenticato la password", "it"),
    ],
)
def test_dutch_and_italian_with_english_looking_words_are_not_english(
    text: str, language: str
) -> None:
    assert detect_language(text) == language


def test_english_wins_a_tie() -> None:
    # One English function word ("the") and one German one ("und").
    assert detect_language("the und") == ENGLISH


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "\u041d\u0435 \u043c\u043e\u0433\u0443 \u0432\u043e\u0439\u0442\u0438 invoice",
            id="russian-with-an-english-word",
        ),
        pytest.param("注文した商品がまだ届きません。invoice を確認してください。", id="japanese"),
    ],
)
def test_a_text_in_another_script_is_said_to_be_other(text: str) -> None:
    # Read as English before (no function word of any language), so with an English product
    # word in it the offline rules answered it with an English template and no person.
    assert detect_language(text) == OTHER


def test_a_terse_english_text_is_not_other() -> None:
    text = "Export fails again: report page shows error 500, retry button greyed, logs empty today"
    assert detect_language(text) is None
