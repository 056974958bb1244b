"""Text the offline rules should not answer on their own, whatever its keywords say.

The product is a software service (workspaces, integrations, an API, subscriptions, orders).
Three kinds of text reach its queue that a keyword rule would misread:

- requests that are not support for this product: questions for a bank (cash machines, exchange
  rates, cards in the post), or for a general assistant (a poem, the weather). Their words
  ("card", "payment", "charge") look like Billing, and a billing article would be a wrong answer;
- a developer's issue report (the shape of a GitHub issue: code blocks, stack traces, template
  headings, version lines). It is about someone's code, and the templated "please send us the
  steps to reproduce" reply would ignore everything it already says;
- a request for advice or a consultation (best practices, recommendations, strategies, "I am
  inquiring about ..."): the bundled articles say how to do things and how to fix problems; an
  article that shares its keywords is not an answer to "what would you recommend".

Both still get a category (the best guess helps whoever picks them up), but with a confidence
low enough that a person reads them first.
"""

import re
from typing import Final

NOT_OUR_PRODUCT: Final = {
    "a question for a bank": re.compile(
        r"\batms?\b|\bcash (machine|withdrawal)|\bwithdraw(ing|al|n)?\b[^.?!]{0,40}\bcash\b"
        r"|\bexchange rate|\bcurrency exchange|\btop[- ]?up\b|\bmortgage|\bloan\b|\boverdraft"
        r"|\binterest rate|\bsavings account|\bbeneficiar(y|ies)\b|\bcontactless"
        r"|\b(my|the) (new |virtual |physical )?card (has not|hasn't|still hasn't|didn't|did not"
        r"|never) (arrived|come|arrive)|\bpin (code|number)\b|\b(card|my) pin\b",
        re.IGNORECASE,
    ),
    "a request for a general assistant": re.compile(
        r"\b(write|compose) (me )?(a |an )?(poem|essay|story|song|limerick)"
        r"|\btell me a joke|\bweather (today|tomorrow|forecast|in)\b|\brecipe for\b"
        r"|\bmy homework\b|\bcapital (city )?of\b|\bmeaning of life",
        re.IGNORECASE,
    ),
}

# Each marks a developer's issue report; one strong marker or two weak ones make the call.
# A line's indentation is `[ \t]`, never `\s` (which crosses line breaks), and one run of it is
# matched one way only: `^\s*[-*]?\s*` on a body of blank lines tried every split of every
# run from every line start, quadratic in the body (23 s for 20,000 blanks, on every attempt).
STRONG_DEVELOPER_MARKERS: Final = (
    re.compile(r"```"),
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"^[ \t]+at [\w.$<>]+\(.*:\d+(:\d+)?\)", re.MULTILINE),  # Java / JavaScript frames
    re.compile(r'^[ \t]*File ".+", line \d+', re.MULTILINE),  # Python frames
)
WEAK_DEVELOPER_MARKERS: Final = (
    re.compile(r"^#{1,6} \S", re.MULTILINE),  # markdown headings
    re.compile(
        r"\*\*(describe the bug|to reproduce|expected behaviou?r|actual behaviou?r|environment"
        r"|steps to reproduce)",
        re.IGNORECASE,
    ),
    re.compile(
        r"^[ \t]*(?:[-*][ \t]*)?(os|version|python|node|browser|environment|platform)"
        r"( version)?[ \t]*:",
        re.IGNORECASE | re.MULTILINE,
    ),
    re.compile(r"\bpull request\b|\bPR #\d+|\bcommit [0-9a-f]{7,40}\b", re.IGNORECASE),
    re.compile(r"\b(npm|pip|yarn|cargo|mvn|gradle|go) (install|run|build|test|get)\b"),
    re.compile(r"^[ \t]*(\$|>>>) \S", re.MULTILINE),  # a shell or Python prompt
)


ASKS_FOR_ADVICE: Final = re.compile(
    r"\bseeking (advice|guidance|recommendations|insights|information)"
    r"|\b(advice|guidance) (on|regarding|about|for)\b|\brecommendations? (on|for|regarding|about)\b"
    r"|\bbest practices|\binquir(e|ing|y) (about|regarding|into|on)\b"
    r"|\binterested in (learning|exploring|understanding)|\b(strategies|tips) (for|to|on)\b",
    re.IGNORECASE,
)


def not_our_product(text: str) -> str | None:
    """What the text asks for instead of support for this product, if it plainly does."""
    return next((what for what, rule in NOT_OUR_PRODUCT.items() if rule.search(text)), None)


def looks_like_developer_issue(text: str) -> bool:
    if any(marker.search(text) for marker in STRONG_DEVELOPER_MARKERS):
        return True
    return sum(bool(marker.search(text)) for marker in WEAK_DEVELOPER_MARKERS) >= 2


def asks_for_advice(text: str) -> bool:
    return bool(ASKS_FOR_ADVICE.search(text))
