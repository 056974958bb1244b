"""Bodies made of blanks (a long run of spaces or non-breaking spaces from an HTML e-mail, blank
lines) go through the offline agents and the trimming at once. Two patterns once matched such
runs in quadratically many ways: 23 s for one classification of a 20,000-blank body, on every
attempt, with the worker's event loop blocked (and, in a workflow, past the deadlock timeout).
The timeouts below are hang guards, hundreds of times what the work takes; speed lives in
bench/."""

import pytest

from activities.providers.offline import classifier, triage
from policy.trimming import trim_body
from shared.tickets import MAX_BODY_CHARS, Ticket

BLANK_BODIES = {
    "spaces": "Hello\n" + " " * (MAX_BODY_CHARS - 20) + "x",
    "non-breaking spaces": "Hello\n" + "\u00a0" * (MAX_BODY_CHARS - 20) + "\nthanks",
    "blank lines": "Hello\n" + " \n" * ((MAX_BODY_CHARS - 20) // 2) + "x",
    "a header word and blanks": "Hi\nFrom" + " " * (MAX_BODY_CHARS - 20) + "x",
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("body", list(BLANK_BODIES.values()), ids=list(BLANK_BODIES))
def test_a_body_of_blanks_is_classified_triaged_and_trimmed_at_once(body: str) -> None:
    ticket = Ticket(ticket_id="T-BLANKS", subject="Help", body=body)

    classification = classifier.classify(ticket)
    result = triage.triage(ticket, classification)
    trimmed = trim_body(ticket.body)

    assert classification.category and result.priority
    assert 0 < len(trimmed.text) <= len(ticket.body)
