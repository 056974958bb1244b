"""Which language a ticket is written in, cheaply: the share of each language's commonest words.

The offline rules read English only. A ticket in another language gets no useful cue from them,
and an English reply sent without a person would be wrong twice, so the classifier needs to know.
Function words ("the", "und", "los", "vous", "não") make up a large share of any running text, so
counting them tells the languages apart well enough without a model or a dependency.
"""

import re
from typing import Final

ENGLISH: Final = "en"
# The commonest function words of each language the support team sees, minus words that are
# also common English words ("a", "in", "an", "no", "so", "was", "will", "me"): each one here is
# evidence for its language, or for another language that is not English at worst.


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: Final[dict[str, frozenset[str]]] = {
    "en": _words(
        "the and to of is it that for my you with this have be not are we our can please "
        "would could your from but has been at as or do does they there what when which how "
        "why i i'm i've don't can't doesn't it's hello thanks thank"
    ),
    "de": _words(
        "der die das und es ist nicht ich wir sie ein eine einen einem mit auf für von zu den "
        "dem des bei auch wie kann können bitte unser unsere unseren mein meine haben hat wurde "
        "werden sich dass oder aber noch nach ihre ihnen uns sehr vielen dank guten ob keine "
        "kein sind wird gibt welche"
    ),
    "es": _words(
        "el la los las de del que y en un una por para con mi mis se al lo como pero su sus "
        "hola gracias puedo tengo está esta este mi muy hay cuando porque usted ustedes "
        "también quiero necesito"
    ),
    "fr": _words(
        "le la les de des du et en est une je nous vous pour pas ne que qui dans sur avec mon ma "
        "mes votre vos bonjour merci ce cette il elle au aux sont j'ai mais ou très suis avons "
        "pouvez"
    ),
    "pt": _words(
        "os de da dos das é um uma que não para com em na meu minha por se mas "
        "como olá obrigado obrigada você está tenho muito quando porque também preciso "
        "gostaria seu sua"
    ),
    # Two more Latin-script languages a European support team sees. Without them a Dutch
    # ticket had none of the words above but English "is" and "we": read as English, and
    # with a product word in it ("account") answered with an English template, no person asked.
    # Each list holds the language's commonest words even where another language shares them
    # ("de", "la", "con"): a word on k lists counts 1/k for each (see detect_language).
    "nl": _words(
        "het een van ik niet dat op te zijn voor ook maar wij jullie mijn uw kunnen heb hebben "
        "wordt worden geen nog naar bij dit deze wat hoe waarom graag bedankt alvast groeten "
        "kan hallo dank de en er met heeft ben onze omdat sinds krijgen"
    ),
    "it": _words(
        "il di che è sono ho abbiamo questo questa mio mia miei vostro vostra grazie "
        "buongiorno salve della dello delle degli nel nella anche perché posso potete può "
        "vorrei già sul sulla alla gli non la del un una con per mi si ci le da"
    ),
}
# A text in none of the languages above, known by its script (Cyrillic, Greek, Arabic, CJK, ...):
# it was read as English (none of their function words) and, with an English product word in it
# ("invoice"), answered with an English template and no person asked.
OTHER: Final = "other"
NAMES: Final = {
    OTHER: "a language they do not know",
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "pt": "Portuguese",
    "nl": "Dutch",
    "it": "Italian",
}
# Each function word's languages.
_OWNERS: Final[dict[str, tuple[str, ...]]] = {
    word: tuple(code for code, words in STOPWORDS.items() if word in words)
    for word in frozenset().union(*STOPWORDS.values())
}
# Letters, with inner apostrophes and hyphens: "e-mail" is one word, not Portuguese "e".
_WORD: Final = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")


# Letters outside the Latin script (Cyrillic, Greek, Arabic, CJK, ...): past this share of the
# text's letters it is not in a language the rules read, whatever English words it quotes.
MAX_OTHER_SCRIPT_SHARE: Final = 0.3


def _other_script_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    # Latin letters, with their accented forms, are below U+0250 (IPA extensions).
    return sum(ord(c) >= 0x0250 for c in letters) / len(letters)


def detect_language(text: str) -> str | None:
    """The language code whose function words the text uses most, English on a tie; OTHER for
    a text mostly in another script; None when it has none of them (too short or too terse to
    tell; a Latin-script language other than these seven reads so too)."""
    if _other_script_share(text) > MAX_OTHER_SCRIPT_SHARE:
        return OTHER
    hits = dict.fromkeys(STOPWORDS, 0.0)
    for word in _WORD.findall(text.lower()):
        owners = _OWNERS.get(word)
        if owners:
            # A word several languages share is weak evidence for each of them: Dutch "de"
            # and "en" alone must not outvote one English "is".
            for code in owners:
                hits[code] += 1 / len(owners)
    best = max(hits.values())
    if best == 0:
        return None
    if hits[ENGLISH] == best:
        return ENGLISH
    return max(hits, key=lambda code: hits[code])
