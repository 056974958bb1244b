"""The e-mail channel: one message per answer over SMTP (aiosmtplib), its Message-ID derived from
the answer's idempotency key, so a message sent twice by a retry is recognisably the same one.

What the server answers decides what Temporal does:

- accepted: sent;
- a connection error, a timeout (``timeout_seconds`` bounds the whole exchange, not each
  command), a 4xx reply (greylisting, a full queue), refused credentials or a refused sender or
  greeting (the worker's configuration, not the ticket, is wrong): retried with backoff;
- a 5xx reply to the recipient or the message (no such mailbox, policy rejection), or a ticket
  with no ``customer_email``: refused for good, the ticket ends in DELIVERY_FAILED.
"""

import asyncio
import contextlib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Final

import aiosmtplib

from activities.delivery.config import SmtpConfig
from activities.delivery.errors import DeliveryRejected, DeliveryUnavailable, DeliveryUncertain
from shared.stores.ledger import LedgerEntry
from shared.view import DeliveryRequest

SUBJECT_FALLBACK: Final = "Your support request"
# How long the goodbye after an accepted message may take before the connection is just closed.
QUIT_SECONDS: Final = 2.0
# The reply to MAIL FROM that refuses this message's size (not the sender): for good.
MESSAGE_TOO_LARGE: Final = 552
# Replies that say the worker's login is missing or refused, whichever command they answer.
LOGIN_REPLIES: Final = frozenset({530, 535})
# A recipient's 552 (mailbox full) is for now: RFC 5321 4.5.3.1.10 says to take it as 452.
FULL_MAILBOX: Final = 552


def message_id(key: str, sender: str) -> str:
    return f"<{key}@{sender.rpartition('@')[2]}>"


# A zero-width space between "=" and "?": the customer's text as typed, never the start of an
# RFC 2047 encoded word.
INERT_ENCODED_WORD: Final = "=\u200b?"


def literal_subject(text: str) -> str:
    """The ticket's subject as a header value the e-mail package takes as text. It decodes
    RFC 2047 encoded words in a value it is given: a subject holding "=?utf-8?q?x=0D=0ABcc:..."
    became a line break inside the header, and on Pythons without the fix for CVE-2024-6923
    (3.11.7 among them) it was written out as one: the customer who wrote the ticket chose
    headers (Bcc, Reply-To) and the body of the mail the company's relay sent."""
    return " ".join(text.split()).replace("=?", INERT_ENCODED_WORD)


def build_message(entry: LedgerEntry, request: DeliveryRequest, config: SmtpConfig) -> EmailMessage:
    assert request.customer_email is not None
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = request.customer_email
    # One recipient, the address as given: the e-mail package decodes an encoded word ("=?")
    # in an address header too, and one the intake let through before it refused them made
    # the To header name addresses the customer chose (shared/tickets.py ENCODED_WORD_START).
    if [a.addr_spec for a in message["To"].addresses] != [request.customer_email]:
        raise ValueError(
            "the customer's address does not read back as itself in a To header (other "
            "recipients, or not an address as written: intake refuses those since 2026-12-07)"
        )
    subject = literal_subject(request.subject or SUBJECT_FALLBACK)
    message["Subject"] = f"Re: {subject} [{entry.ticket_id}]"
    if any(c in str(message["Subject"]) for c in "\r\n"):  # whatever the package decoded
        raise ValueError("the ticket's subject makes a header with a line break in it")
    message["Message-ID"] = message_id(entry.idempotency_key, config.sender)
    # When it is sent, not when the answer was decided: one that went out after hours of
    # retries (or a redrive the next day) arrived dated among older mail. The Message-ID, the
    # same for every attempt, is what tells a resend apart.
    message["Date"] = formatdate(usegmt=True)
    message["X-Ticket-Id"] = entry.ticket_id
    message["X-Ticket-Revision"] = str(entry.revision)
    message.set_content(entry.body)
    return message


async def _no_reset(*args: Any, **kwargs: Any) -> None:
    """What the channel's client does instead of RSET (``SmtpChannel.send`` says why)."""


async def _goodbye(client: aiosmtplib.SMTP) -> None:
    """QUIT after an accepted message, best effort, then close."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(QUIT_SECONDS):
            await client.quit()
    client.close()


class SmtpChannel:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._goodbyes: set[asyncio.Task[None]] = set()  # QUITs after accepted messages
        # Built once (it reads the system's CA files): aiosmtplib built one per message, on the
        # event loop, whenever it did TLS.
        self._tls = ssl.create_default_context() if config.tls != "none" else None

    def destination(self, request: DeliveryRequest) -> str:
        return request.customer_email or "(no address)"

    async def send(self, entry: LedgerEntry, request: DeliveryRequest) -> None:
        config = self.config
        if not request.customer_email:
            raise DeliveryRejected(
                f"ticket {entry.ticket_id} has no customer_email, and answers on its channel "
                f"({entry.channel}) go out by e-mail"
            )
        where = f"the SMTP server {config.host}:{config.port}"
        client = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            username=config.username,
            password=config.password,
            timeout=config.timeout_seconds,
            use_tls=config.tls == "tls",
            start_tls=_start_tls(config),
            tls_context=self._tls,
        )
        # Whether the message was handed over (its text written, after the relay's 354): from
        # then on a broken or silent connection may follow a relay that took it (RFC 5321 gives
        # a relay ten minutes to answer the final "."), and trying again could deliver it twice.
        handed_over = False
        data = client.data

        async def handing_over(*args: Any, **kwargs: Any) -> Any:
            protocol = client.protocol
            if protocol is not None:
                write = protocol.write

                def writing(chunk: bytes) -> None:
                    nonlocal handed_over
                    # Once written: a write refused (the relay gone after its 354) sent nothing,
                    # and is tried again, not left to a person as maybe delivered.
                    write(chunk)
                    handed_over = handed_over or chunk != b"DATA\r\n"  # the message's text

                protocol.write = writing  # type: ignore[method-assign]
            return await data(*args, **kwargs)

        client.data = handing_over  # type: ignore[method-assign]  # send_message calls it
        # After a refusal aiosmtplib resets the envelope (RSET) to reuse the connection, which
        # this channel never does (one message a connection, closed after a failure). A relay
        # slow to answer it ran out the time after the message was handed over, and a refusal
        # became "may have been delivered": no RSET is sent.
        client.rset = _no_reset  # type: ignore[method-assign]
        try:
            # Connecting, logging in and the message within the timeout (aiosmtplib's own
            # applies to each command); once the server took the message nothing may fail the
            # send: the goodbye (QUIT) is best effort, so a relay slow to answer it does not
            # make a second e-mail. (aiosmtplib.send said QUIT inside the exchange.)
            connected = False
            try:
                async with asyncio.timeout(config.timeout_seconds):
                    await client.connect()  # greeting, EHLO, STARTTLS, login
                    connected = True
                    # The envelope's recipient is the address itself, never one read back
                    # from the To header the e-mail package parsed.
                    await client.send_message(
                        build_message(entry, request, config),
                        recipients=[request.customer_email],
                    )
            except BaseException:
                client.close()  # not sent: without waiting on the server
                raise
            # Taken: the goodbye goes on in the background (a cancellation now must not turn
            # the accepted message into a failure), closed by its own end.
            goodbye = asyncio.get_running_loop().create_task(_goodbye(client))
            self._goodbyes.add(goodbye)
            goodbye.add_done_callback(self._goodbyes.discard)
            return
        except TimeoutError:
            if handed_over:
                raise DeliveryUncertain(
                    f"{where} did not say within {config.timeout_seconds:g}s whether it took "
                    "the message it was handed"
                ) from None
            raise DeliveryUnavailable(
                f"{where} did not take the message within {config.timeout_seconds:g}s"
            ) from None
        except ValueError as err:
            if not connected:  # a setting of the worker's (its host name, TLS): retried
                raise DeliveryUnavailable(f"cannot send through {where}: {_said(err)}") from None
            # The address or the message cannot be written as an e-mail (aiosmtplib and the
            # email package refuse control characters, an address a relay without SMTPUTF8
            # cannot take): trying again writes the same.
            # Its reason said (the address, the subject or the body: the project's own refusals
            # name which); the class alone left an operator guessing (a review, 2026-12-07).
            raise DeliveryRejected(
                f"the answer to {request.customer_email!r} cannot be sent as an e-mail: "
                f"{_said(err)}"
            ) from None
        except aiosmtplib.SMTPNotSupported as err:
            if not connected:  # STARTTLS or a login the server does not offer: the set-up's
                raise DeliveryUnavailable(f"cannot send through {where}: {_said(err)}") from None
            raise DeliveryRejected(
                f"{where} cannot take the address {request.customer_email!r} (it does not "
                "support SMTPUTF8)"
            ) from None
        except aiosmtplib.SMTPRecipientsRefused as err:
            codes = [r.code for r in err.recipients]
            said = "; ".join(f"{r.code} {r.message}" for r in err.recipients)[:200]
            text = f"{where} refused the recipient {request.customer_email}: {said}"
            if all(code >= 500 and code not in LOGIN_REPLIES | {FULL_MAILBOX} for code in codes):
                raise DeliveryRejected(text) from None
            raise DeliveryUnavailable(text) from None
        except aiosmtplib.SMTPAuthenticationError as err:
            raise DeliveryUnavailable(
                f"{where} refused the login of {config.username} ({err.code}); "
                "check TICKETS_SMTP_USERNAME and TICKETS_SMTP_PASSWORD"
            ) from None
        except (
            aiosmtplib.SMTPSenderRefused,
            aiosmtplib.SMTPHeloError,
            aiosmtplib.SMTPConnectResponseError,
        ) as err:
            said = " ".join(err.message.split())[:200]
            if err.code == MESSAGE_TOO_LARGE:  # to MAIL FROM with SIZE: this message, for good
                raise DeliveryRejected(f"{where} answered {err.code} {said}") from None
            raise DeliveryUnavailable(
                f"{where} refused the worker's greeting or its sender {config.sender} "
                f"({err.code} {said}); check TICKETS_SMTP_FROM and the login"
            ) from None
        except aiosmtplib.SMTPResponseException as err:
            text = f"{where} answered {err.code} {' '.join(err.message.split())[:200]}"
            if handed_over and err.code < 400:
                # Handed the message, the relay's answer is no reply code (aiosmtplib's -1 for a
                # malformed or overlong line) or none it may give: it may have taken the message.
                # Retried as unavailable, the customer got it twice (a review, 2026-12-07).
                raise DeliveryUncertain(
                    f"{where} was handed the message and answered what is no SMTP reply "
                    f"({err.code}): whether it took it is not known"
                ) from None
            # Before the message (greeting, STARTTLS, login) a refusal is about the worker's
            # set-up, never this answer: retried.
            if connected and err.code >= 500 and err.code not in LOGIN_REPLIES:
                raise DeliveryRejected(text) from None
            raise DeliveryUnavailable(text) from None
        except (aiosmtplib.SMTPException, OSError) as err:
            if handed_over and not isinstance(err, aiosmtplib.SMTPResponseException):
                raise DeliveryUncertain(
                    f"the connection to {where} broke ({type(err).__name__}) after it was "
                    "handed the message, before it said whether it took it"
                ) from None
            raise DeliveryUnavailable(f"cannot send through {where}: {_said(err)}") from None

    @property
    def timeout_seconds(self) -> float:
        return self.config.timeout_seconds

    async def aclose(self) -> None:
        await asyncio.gather(*self._goodbyes, return_exceptions=True)


def _said(err: BaseException) -> str:
    """An error of the worker's SMTP set-up as the operator needs it: the library's own words
    ("SMTP AUTH extension not supported by server. Try connecting via TLS (or STARTTLS).";
    they quote no message, address or password), not only the class name; a certificate the
    worker does not trust says how to trust a private CA."""
    text = " ".join(str(err).split())[:200]
    said = f"{type(err).__name__}: {text}" if text else type(err).__name__
    if isinstance(err, ssl.SSLCertVerificationError):
        said += " (a relay with a private CA: point SSL_CERT_FILE at its certificate)"
    return said


def _start_tls(config: SmtpConfig) -> bool | None:
    """aiosmtplib's ``start_tls``: True requires STARTTLS, None uses it when offered. ``auto``
    with a login requires it: a relay that did not offer STARTTLS (or a path that stripped the
    offer) got the password in the clear."""
    if config.tls == "starttls" or (config.tls == "auto" and config.username):
        return True
    return None if config.tls == "auto" else False
