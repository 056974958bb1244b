"""Input trimming: what is cut before a model reads a ticket, and what never is."""

import pytest

from activities.text import estimate_tokens
from policy.trimming import trim_body

CONTENT = "Our export fails with error 500 since Monday. Steps: open reports, click export."


@pytest.mark.parametrize(
    "greeting",
    [
        "Hi team,",
        "Hello!",
        "Dear support team,",
        "Good morning",
        "Dear Sir or Madam,",
        "Hello Ana!",
        "hi there",
        "Hello ACME Support Team,",
    ],
)
def test_a_greeting_line_is_cut(greeting: str) -> None:
    assert trim_body(f"{greeting}\n\n{CONTENT}").text == CONTENT


@pytest.mark.parametrize(
    "first", ["Hi, my app crashes on start.", "Hi my app crashes", "Hello need help asap"]
)
def test_a_first_line_that_says_something_is_kept_even_when_it_starts_with_hi(first: str) -> None:
    body = f"{first}\nIt began after the update."
    assert trim_body(body).text == body


@pytest.mark.parametrize(
    "reference", ["Order ID: 98765", "Account: ACME-42", "Invoice no. 2026-0042", "Order #55123"]
)
def test_what_the_customer_gives_to_look_up_under_a_sign_off_is_kept(reference: str) -> None:
    # The sign-off's name block was cut whole: the order number the customer put under their
    # name never reached an agent.
    body = f"{CONTENT}\n\nThanks,\nAna\n{reference}"
    assert reference in trim_body(body).text


def test_a_phone_number_under_a_sign_off_is_still_a_signature() -> None:
    body = f"{CONTENT}\n\nBest regards,\nAna Lima\nHead of Ops, ACME\n+49 30 1234567"
    assert trim_body(body).text == CONTENT


def test_a_sign_off_and_the_signature_after_it_are_cut() -> None:
    body = f"{CONTENT}\n\nThanks,\nMaria\n--\nMaria Lopez | Head of Ops | ACME | +1 555 0100"
    trimmed = trim_body(body)
    assert trimmed.text == CONTENT and trimmed.removed_tokens > 0


def test_thanks_early_in_the_body_is_content_not_a_sign_off() -> None:
    lines = ["Thanks for the quick fix last week."] + [f"Detail line {i}." for i in range(12)]
    body = "\n".join(lines)
    assert trim_body(body).text == body


@pytest.mark.parametrize(
    "thread",
    [
        "On Mon, Mar 3, 2025 at 10:00 AM Support <support@example.com> wrote:\n> QUOTED text",
        "-----Original Message-----\nFrom: Support\nQUOTED text",
        "> QUOTED text\n> more QUOTED text",
    ],
)
def test_quoted_earlier_messages_are_cut(thread: str) -> None:
    trimmed = trim_body(f"{CONTENT}\n\n{thread}")
    assert "QUOTED" not in trimmed.text and CONTENT in trimmed.text


def test_an_over_long_body_keeps_its_head_and_tail_within_the_budget() -> None:
    body = "START " + "x" * 40_000 + " END"
    trimmed = trim_body(body, budget_tokens=500)
    assert trimmed.text.startswith("START") and trimmed.text.endswith("END")
    assert "characters trimmed" in trimmed.text
    assert estimate_tokens(trimmed.text) <= 520
    assert trimmed.removed_tokens == estimate_tokens(body) - estimate_tokens(trimmed.text)


def test_a_body_that_is_only_a_greeting_is_never_trimmed_to_nothing() -> None:
    assert trim_body("Hello,\nThanks,\nBob").text != ""


def test_a_short_plain_body_is_left_alone() -> None:
    trimmed = trim_body(CONTENT)
    assert (trimmed.text, trimmed.removed_tokens) == (CONTENT, 0)


# A body at its limit (MAX_BODY_CHARS) built for the patterns' worst case: one long word under a
# sign-off word, a greeting followed by a long run of spaces.
ADVERSARIAL = {
    "sign-off": "Order broken\nthanks " + "a" * 19_900 + "?",
    "greeting": "Hi" + " " * 19_900 + "x\nOur export fails.",
    # A forward marker and spaces above a header block (policy/quoted_thread.py): cubic.
    "forward-marker": (
        "Hi\nforwarded message" + " " * 19_800 + "x\nFrom: a@b.example\nSubject: s\nDate: d\nb"
    ),
    # One long "word" of keywords under a sign-off (REFERENCE, from every "id"): quadratic.
    "reference": "Hi,\nMy export fails.\nThanks\n" + "id-" * 6_600,
}


@pytest.mark.parametrize("shape", sorted(ADVERSARIAL))
def test_no_body_makes_the_trimming_backtrack_for_long(shape: str) -> None:
    # Trimming runs in every agent activity and in workflow code, holding the interpreter: the
    # sign-off pattern took time growing with the cube of such a line's length (7 s at 1,000
    # characters, hours at 20,000), stopping the worker's event loop, heartbeats and workflow
    # tasks. Run apart, so the old patterns fail the test instead of hanging the suite; the
    # bound is a hang's, not a speed target (it takes milliseconds).
    from tests.support.hang_bound import finishes_apart

    code = "from policy.trimming import trim_body; print(len(trim_body(text).text))"
    assert int(finishes_apart(code, ADVERSARIAL[shape], f"trimming the {shape} body")) > 0


def test_what_a_person_must_answer_is_kept_from_the_middle_of_a_long_ticket() -> None:
    # Trimming keeps a long body's head and tail: a lawyer named in the middle of a long
    # account was cut before any agent read it, and the offline triage sent it out unreviewed.
    from activities.providers.offline.triage import triage
    from shared.agents import Category, Classification, Priority
    from shared.tickets import Ticket

    filler = "We were charged for the March invoice and the amounts do not match our records. " * 60
    threat = "I have now instructed my lawyer to take legal action about this."
    body = f"{filler}\n{threat}\n{filler}{filler[:1500]}"
    trimmed = trim_body(body).text

    assert len(trimmed) < len(body) / 1.5  # still trimmed
    assert threat in trimmed and "kept from them" in trimmed
    classified = Classification(category=Category.BILLING, confidence=0.99, rationale="x")
    ticket = Ticket(ticket_id="T-1", subject="Invoice", body=trimmed)
    assert triage(ticket, classified).priority is Priority.URGENT
    # A long ticket with no such line is cut as before.
    plain = trim_body(f"{filler}{filler}{filler}").text
    assert "kept from them" not in plain and "characters trimmed ...]" in plain


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        # A review (2026-12-07): each line below went with a "signature", and the resolver
        # answered another question than the customer's.
        ("I was charged twice this month.\nThanks, please refund me", "please refund me"),
        (
            "Order 5512 arrived broken.\nThanks in advance.\nI want a full refund.\n"
            "Not a replacement.\nTom",
            "I want a full refund.",
        ),
        (
            "Got your answer yesterday.\nThanks for the reply.\nIt still does not work.\n"
            "The app crashes at login.\nAna",
            "The app crashes at login.",
        ),
        (
            "The export fails.\nSent from my iPad because the iPhone app crashes",
            "because the iPhone app crashes",
        ),
        # Shouted words are no name (the second review of the same day): the first rule took
        # any capitalized word for one, and "URGENT" left the text the triage reads.
        ("Site down.\n\nThanks, URGENT PLEASE CALL ME\nTom", "URGENT PLEASE CALL ME"),
        ("Site down.\n\nRegards, SEE YOU IN COURT\nTom", "SEE YOU IN COURT"),
        # Short lines under a sign-off that are no name, title or number.
        ("The invoice is wrong.\nThanks\nStill broken.\nTom", "Still broken."),
        ("Order late.\nRegards,\nPlease refund €49.99 by Friday\nAna", "Please refund €49.99"),
        ("Kaputt.\nDanke\nBitte Vertrag sofort kündigen!\nMax", "Bitte Vertrag sofort kündigen!"),
    ],
)
def test_what_the_customer_asks_after_a_sign_off_word_is_never_cut(body: str, kept: str) -> None:
    assert kept in trim_body(body).text


@pytest.mark.parametrize(
    "tail",
    [
        "Thanks a lot,\nTom",
        "Thank you so much for your help!\nAna Lima",
        "Kind regards,\nAna Lima\nHead of Finance, ACME Ltd.\n+49 30 1234567",
        "Cheers, Tom",
        "Best,\nAna\n\nSent from my iPhone",
        "Regards\nSent from Yahoo Mail for iPhone",
        "Thanks and best regards,\nÉlodie Dubois",
        "Thank you for your patience,\nAna de Souza",
        "Mit freundlichen Grüßen\nMax Mustermann\nEinkauf, Muster GmbH",
        "Viele Grüße\nJan van der Berg",
        "Cordialement,\nÉlodie",
        "Saludos,\nMaría de la Cruz",
    ],
)
def test_sign_offs_and_name_blocks_are_still_cut(tail: str) -> None:
    assert trim_body(f"{CONTENT}\n\n{tail}").text == CONTENT


def test_a_shouted_line_under_a_sign_off_is_no_name_block() -> None:
    # The same request on its own line under "Thanks," (a review of 0f8de73): the name block
    # took every capitalized word for a name's.
    body = "My account is locked.\nThanks,\nURGENT PLEASE CALL ME"
    assert "URGENT PLEASE CALL ME" in trim_body(body).text
    assert trim_body(f"{CONTENT}\n\nRegards,\nAna Lima\nACME GmbH").text == CONTENT


def test_answers_written_between_quoted_lines_are_kept_and_the_quotes_cut() -> None:
    # A review (2026-12-07): everything from the attribution line on was cut, the customer's
    # answers between the quoted lines too: a crash and a data loss never reached an agent.
    body = (
        "Hi, see my answers below.\n\n"
        "On Mon, 3 Mar 2025 at 10:15, Support <support@example.com> wrote:\n"
        "> Which invoice do you need?\n\n"
        "The March one. But the app crashes when I open it and we lost our data.\n"
        "> Anything else?\n"
        "Yes, I need this fixed today."
    )
    text = trim_body(body).text
    assert "we lost our data" in text and "fixed today" in text
    assert "Which invoice" not in text and "wrote:" not in text
    # A reply above a quoted thread, and a thread quoted whole (Outlook), keep only the reply.
    above = (
        "Thanks, that worked.\n\nOn Mon, 3 Mar 2025 at 10:15, Support <s@x.com> wrote:\n> Try it."
    )
    assert trim_body(above).text == "Thanks, that worked."
    whole = (
        "Still broken.\n\nFrom: Support <s@x.com>\nSent: Monday\nTo: me\nSubject: Re: x\n\nTry it."
    )
    assert trim_body(whole).text == "Still broken."


DISCLAIMER = (
    "This e-mail and any attachments are confidential and intended solely for the addressee. "
    "If you have received this e-mail in error, please inform us immediately and delete it. "
    "Unauthorized access, use or disclosure is prohibited."
)


def test_a_mail_disclaimer_at_the_end_is_cut_and_the_customer_s_own_words_are_not() -> None:
    # A review (2026-12-07): a trailing disclaimer's English made a German ticket read as
    # English (answered with no person), and its "inform us immediately" and "unauthorized
    # access" made an invoice question Urgent.
    german = (
        "Hallo,\nich finde meine Rechnung für März nicht. Bitte senden Sie sie erneut.\n\n"
        f"Viele Grüße\nAnna Schmidt\n\n{DISCLAIMER}"
    )
    assert trim_body(german).text == (
        "Hallo,\nich finde meine Rechnung für März nicht. Bitte senden Sie sie erneut."
    )
    # Words of the customer's own that sound like one stay: no telling phrase, or "I"/"my".
    mine = "Where is my invoice?\n\nPlease delete this account: opened in error, unauthorized."
    assert trim_body(mine).text == mine
    told = "Where is my invoice?\n\nI received this e-mail in error, please delete my address."
    assert trim_body(told).text == told
    # Never the message's first paragraph.
    assert trim_body(DISCLAIMER).text == DISCLAIMER


def test_a_customers_dash_line_between_two_parts_of_the_message_cuts_nothing() -> None:
    """A "--" line is a signature's delimiter only when a signature follows: the outage and
    its urgency below it never reached an agent, and the ticket was answered by a template
    (a review, 2026-12-07)."""
    body = (
        "My dashboard shows wrong totals on the monthly report.\n--\n"
        "This is an outage for all our users, it's urgent, please call me."
    )
    assert "outage for all our users" in trim_body(body).text


def test_a_signature_with_its_contact_lines_after_a_dash_line_is_still_cut() -> None:
    body = (
        f"{CONTENT}\n--\nMaria Lopez\nHead of Ops, ACME Ltd.\n+1 555 0100\n"
        "maria@acme.example\nwww.acme.example"
    )
    trimmed = trim_body(body).text
    assert CONTENT.strip() in trimmed and "Maria Lopez" not in trimmed


@pytest.mark.parametrize(
    "after",
    [
        "Please refund €149.99 by Friday.",
        "Down since 2026-12-07 09:30, the whole team is blocked, call me.",
        "It breaks on https://app.example.com/reports when I export.",
        "my login is ana@corp.example if you need it",
    ],
)
def test_a_customers_line_with_an_amount_a_date_a_link_or_an_address_is_no_signature(
    after: str,
) -> None:
    """Read anywhere in a line, a signature's contact rule took these for one (a review)."""
    assert after in trim_body(f"{CONTENT}\n--\n{after}").text
