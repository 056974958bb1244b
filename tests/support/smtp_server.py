"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the e-mail channel's tests: keeps every
message it accepts and refuses the recipients a test names."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.processes import free_port


@dataclass
class MailBox:
    refuse: set[str] = field(default_factory=set)  # these recipients get 550
    messages: list[Message] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)  # each message's RCPT TOs
    # What MAIL FROM is answered when not "250 OK" (a relay refusing this sender, say).
    sender_reply: str | None = None
    # What every RCPT TO is answered when not "250 OK" (a full mailbox, say).
    recipient_reply: str | None = None
    # Seconds the server takes to answer QUIT (after it accepted the message).
    quit_delay: float = 0.0
    # Seconds the server takes to answer the message's final "." (it keeps the message first,
    # as a relay that scans content has it before it answers).
    data_delay: float = 0.0
    # What the message's final "." is answered when not 250 (a content filter's refusal, say).
    data_reply: str | None = None
    # Said after taking the message instead of a reply code (a relay's garbled answer).
    data_garbled: str | None = None
    # Seconds the server takes to answer RSET (a client sends one after a refusal).
    rset_delay: float = 0.0
    rsets: int = 0  # how many RSET commands came

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.rsets += 1
        if self.rset_delay:
            await asyncio.sleep(self.rset_delay)
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        if self.quit_delay:
            await asyncio.sleep(self.quit_delay)
        return "221 Bye"

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.sender_reply is not None:
            return self.sender_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        if self.recipient_reply is not None:
            return self.recipient_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # As a mail client reads it (long headers are folded on the wire, unfolded here).
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply is not None:
            self.messages.pop()  # refused: not kept
            self.recipients.pop()
            return self.data_reply
        if self.data_garbled is not None:
            return self.data_garbled  # kept: the relay has it
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: MailBox


@contextmanager
def smtp_server(refuse: set[str] | None = None) -> Iterator[SmtpServer]:
    mailbox = MailBox(refuse=refuse or set())
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox)
    finally:
        controller.stop()
