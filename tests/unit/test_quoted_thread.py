"""Quoted earlier threads are cut at a genuine quote marker only, in the formats mail clients
write (Outlook, Gmail, Apple Mail, Thunderbird) and the languages customers write in; what the
customer wrote themselves is never cut."""

import random

import pytest

from policy.quoted_thread import HEADER_BLOCK_MAX_LINES, quoted_thread_start, reply_lines_within
from policy.trimming import trim_body

REPLY = (
    "The export still fails with error 500 after your fix. It happens for every report with more "
    "than 10,000 rows, and smaller ones work."
)
QUOTED = "QUOTEDMARKER: please send us the export id so we can look at it."

# (client, the customer's reply, what the client puts below it)
THREADS = {
    "outlook-en": (
        REPLY,
        "________________________________\n"
        "From: Support Team <support@example.com>\n"
        "Sent: Monday, March 3, 2025 10:00 AM\n"
        "To: Maria Lopez <maria@acme.example>\n"
        "Subject: RE: Export fails\n\n" + QUOTED,
    ),
    "outlook-en-original-message": (
        REPLY,
        "-----Original Message-----\nFrom: Support\nSent: Monday, March 3, 2025 10:00 AM\n"
        "To: Maria\nSubject: Export\n\n" + QUOTED,
    ),
    "outlook-de": (
        "Der Export schlägt nach Ihrem Fix immer noch mit Fehler 500 fehl, bei jedem Bericht mit "
        "mehr als 10.000 Zeilen.",
        "Von: Support-Team <support@example.com>\n"
        "Gesendet: Montag, 3. März 2025 10:00\n"
        "An: Maria Lopez <maria@acme.example>\n"
        "Betreff: AW: Export schlägt fehl\n\n" + QUOTED,
    ),
    "outlook-fr": (
        "L'export échoue toujours avec l'erreur 500 après votre correctif, pour chaque rapport de "
        "plus de 10 000 lignes.",
        "De : Équipe support <support@example.com>\n"
        "Envoyé : lundi 3 mars 2025 10:00\n"
        "À : Maria Lopez <maria@acme.example>\n"
        "Objet : RE: L'export échoue\n\n" + QUOTED,
    ),
    "outlook-es": (
        "La exportación sigue fallando con el error 500 después de su corrección, en cada informe "
        "de más de 10.000 filas.",
        "De: Equipo de soporte <support@example.com>\n"
        "Enviado: lunes, 3 de marzo de 2025 10:00\n"
        "Para: Maria Lopez <maria@acme.example>\n"
        "Asunto: RE: La exportación falla\n\n" + QUOTED,
    ),
    "outlook-pt": (
        "A exportação continua a falhar com o erro 500 depois da correção, em todos os relatórios "
        "com mais de 10.000 linhas.",
        "De: Equipe de suporte <support@example.com>\n"
        "Enviado: segunda-feira, 3 de março de 2025 10:00\n"
        "Para: Maria Lopez <maria@acme.example>\n"
        "Assunto: RE: A exportação falha\n\n" + QUOTED,
    ),
    "outlook-plain-text-bold-fields": (
        REPLY,
        "*From:* Support Team <support@example.com>\n*Sent:* Monday, March 3, 2025 10:00 AM\n"
        "*To:* Maria Lopez\n*Subject:* RE: Export fails\n\n" + QUOTED,
    ),
    "gmail-en": (
        REPLY,
        "On Mon, Mar 3, 2025 at 10:00 AM Support Team <support@example.com> wrote:\n\n> " + QUOTED,
    ),
    "gmail-en-wrapped-attribution": (
        REPLY,
        "On Mon, Mar 3, 2025 at 10:00 AM Support Team of Example Corporation <\n"
        "support@example.com> wrote:\n\n> " + QUOTED,
    ),
    "gmail-de": (
        "Der Export schlägt immer noch fehl.",
        "Am Mo., 3. März 2025 um 10:00 Uhr schrieb Support-Team <support@example.com>:\n\n> "
        + QUOTED,
    ),
    "gmail-fr": (
        "L'export échoue toujours.",
        "Le lun. 3 mars 2025 à 10:00, Équipe support <support@example.com> a écrit :\n\n> "
        + QUOTED,
    ),
    "gmail-es": (
        "La exportación sigue fallando.",
        "El lun, 3 mar 2025 a las 10:00, Equipo de soporte (<support@example.com>) escribió:\n\n> "
        + QUOTED,
    ),
    "gmail-pt": (
        "A exportação continua a falhar.",
        "Em seg., 3 de mar. de 2025 às 10:00, Equipe de suporte <support@example.com> "
        "escreveu:\n\n> " + QUOTED,
    ),
    "apple-mail-en": (
        REPLY,
        "> On 3 Mar 2025, at 10:00, Support Team <support@example.com> wrote:\n>\n> " + QUOTED,
    ),
    "apple-mail-en-iphone": (
        REPLY + "\n\nSent from my iPhone",
        "> On 3 Mar 2025, at 10:00, Support Team <support@example.com> wrote:\n>\n> " + QUOTED,
    ),
    "apple-mail-de": (
        "Der Export schlägt immer noch fehl.\n\nVon meinem iPhone gesendet",
        "> Am 03.03.2025 um 10:00 schrieb Support-Team <support@example.com>:\n>\n> " + QUOTED,
    ),
    "apple-mail-fr": (
        "L'export échoue toujours.",
        "> Le 3 mars 2025 à 10:00, Équipe support <support@example.com> a écrit :\n>\n> " + QUOTED,
    ),
    "thunderbird-en": (
        REPLY,
        "On 03.03.25 10:00, Support Team wrote:\n> " + QUOTED,
    ),
    "thunderbird-de": (
        "Der Export schlägt immer noch fehl.",
        "Am 03.03.25 um 10:00 schrieb Support-Team:\n> " + QUOTED,
    ),
    "thunderbird-original-message": (
        REPLY,
        "-------- Original Message --------\nSubject: Export fails\n"
        "Date: Mon, 3 Mar 2025 10:00:00 +0100\nFrom: Support Team <support@example.com>\n"
        "To: Maria Lopez <maria@acme.example>\n\n" + QUOTED,
    ),
    "thunderbird-de-original-message": (
        "Der Export schlägt immer noch fehl.",
        "-------- Ursprüngliche Nachricht --------\nBetreff: Export\n"
        "Datum: Mon, 3 Mar 2025 10:00:00 +0100\nVon: Support <support@example.com>\n"
        "An: Maria <maria@acme.example>\n\n" + QUOTED,
    ),
    "outlook-es-mensaje-original": (
        "La exportación sigue fallando.",
        "-----Mensaje original-----\nDe: Soporte\nEnviado: lunes\nPara: Maria\nAsunto: Export\n"
        + QUOTED,
    ),
}


@pytest.mark.parametrize("client", list(THREADS))
def test_the_quoted_thread_below_a_reply_is_cut_and_the_reply_kept_whole(client: str) -> None:
    reply, thread = THREADS[client]
    body = f"Hello,\n\n{reply}\n\n{thread}\n"
    trimmed = trim_body(body)
    own = reply.removesuffix("\n\nSent from my iPhone").removesuffix(
        "\n\nVon meinem iPhone gesendet"
    )
    assert trimmed.text == own
    assert "QUOTEDMARKER" not in trimmed.text and trimmed.removed_tokens > 0


# Bodies a customer wrote with nothing quoted: every word reaches the agents.
OWN_WORDS = [
    # The regression: a line that merely starts like a header.
    "The totals are wrong.\nFrom: the Reports page, open March, click Export.\n"
    "The file has 1,240 as total but the rows add up to 1,420. Which one is right?",
    "Von: der Berichtsseite aus exportiere ich die Daten.\nDer Export hat 1.240 als Summe.",
    "De : la page Rapports, j'exporte le mois de mars.\nLe total est faux.",
    # A transfer description is not a mail header block.
    "A payment went to the wrong account.\nFrom: Checking ****1234\nTo: Savings ****9876\n"
    "Date: 03/03/2025\nAmount: $100.00\nPlease move it back.",
    # "On ... wrote:" without a date, time or address is a sentence.
    "On the settings page the app wrote:\nError 0x80070005: access denied\nWhat does it mean?",
    # A quote in the middle is what the customer answers, and stays.
    "You asked for the export id:\n> which export failed?\nIt is EXP-20931.\n"
    "And the error is still there today.",
    # "--" followed by far more than a signature is content.
    "Here is what I did:\n--\n"
    + "\n".join(f"Step {i}: I clicked the button number {i} on the page." for i in range(14)),
    # A sign-off followed by a postscript keeps the postscript.
    "The export fails.\n\nThanks,\nMaria\nP.S. The error code is 0x80 and it happens every day.",
    # A forwarded message is what the customer sends us to read.
    "Please see the invoice mail below, the amount is wrong.\n\n"
    "---------- Forwarded message ---------\nFrom: Billing <billing@example.com>\n"
    "Date: Mon, 3 Mar 2025 at 10:00\nSubject: Your invoice INV-2291\nTo: <maria@acme.example>\n\n"
    "Your invoice INV-2291 over $1,420.00 is attached.",
    "See below, the amount is wrong.\n\n________________________________\n"
    "From: Billing <billing@example.com>\nSent: Monday, March 3, 2025 10:00 AM\n"
    "To: Maria Lopez\nSubject: FW: Your invoice INV-2291\n\nYour invoice over $1,420.00.",
    "Sent from my iPhone, the app crashes when I open the export page. Why?",
]


@pytest.mark.parametrize("body", OWN_WORDS, ids=range(len(OWN_WORDS)))
def test_what_the_customer_wrote_is_never_cut_when_nothing_is_quoted(body: str) -> None:
    trimmed = trim_body(body)
    assert trimmed.text == body and trimmed.removed_tokens == 0


def test_a_body_that_is_only_a_quoted_thread_is_kept_rather_than_emptied() -> None:
    body = "On Mon, Mar 3, 2025 at 10:00 AM Support <support@example.com> wrote:\n> Hi"
    assert trim_body(body).text == body


class Watched(list[str]):
    """Lines that remember the highest index read through them."""

    highest = -1

    def __getitem__(self, key):  # type: ignore[no-untyped-def]
        stop = key.stop if isinstance(key, slice) else key + 1
        self.highest = max(self.highest, min(stop or len(self), len(self)) - 1)
        return super().__getitem__(key)


def test_reply_lines_within_is_the_first_line_past_a_reply_of_the_limit() -> None:
    rng = random.Random(7)
    for _ in range(2_000):
        pieces = ["", " ", "ab", "  cd  ", "\t", "x" * rng.randint(0, 9)]
        lines = [rng.choice(pieces) for _ in range(rng.randint(0, 12))]
        limit = rng.randint(0, 30)
        expected = next(
            (i for i in range(len(lines)) if len("\n".join(lines[:i]).strip()) > limit),
            len(lines),
        )
        assert reply_lines_within(lines, limit) == expected, (lines, limit)


def test_with_a_reply_limit_no_line_past_a_reply_of_that_length_is_looked_at() -> None:
    # A megabyte of lines that each start a header field ("a:" is Spanish and Italian "to")
    # took 6-8 s to scan on the API's event loop, for a text refused as too long anyway.
    lines = Watched(["a:"] * 300_000)
    assert quoted_thread_start(lines, reply_limit=20_000) is None
    reach = reply_lines_within(lines, 20_000)
    assert reach < 7_000
    assert lines.highest < reach + HEADER_BLOCK_MAX_LINES
    # A thread below a reply within the limit is found as before; one below a longer reply is
    # of no use (the reply alone is too long), and is not looked for.
    thread = ["On Mon, 3 Mar 2025 at 10:00, Support <support@example.com> wrote:", "> old"]
    short, long = ["Where is my invoice?", ""], ["word " * 20] * 2_000
    assert quoted_thread_start(short + thread, reply_limit=20_000) == 2
    assert quoted_thread_start(long + thread) == 2_000
    assert quoted_thread_start(long + thread, reply_limit=20_000) is None
