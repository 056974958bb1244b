"""Fixed wording of offline replies, shared by the resolver (which writes it) and the validator
(which must not count it as evidence that a reply is on topic)."""

from typing import Final

from activities.text import content_words
from shared.agents import Category

GREETING: Final = "Hello,"
SIGN_OFF: Final = (
    "If anything is unclear, just reply to this message and we will pick it up from there.\n\n"
    "Best regards,\nThe Support Team"
)
# How a reply names the topic when it does not quote the customer's subject.
TOPIC: Final = {
    Category.TECHNICAL: "technical question",
    Category.BILLING: "billing question",
    Category.ACCOUNT: "account",
    Category.FEATURE_REQUEST: "feature request",
    Category.BUG_REPORT: "bug report",
    Category.GENERAL: "request",
}
OPENING_PREFIX: Final = "Thank you for contacting us about"

BOILERPLATE_WORDS: Final = frozenset(
    content_words(" ".join([GREETING, SIGN_OFF, OPENING_PREFIX, "your", *TOPIC.values()]))
)
