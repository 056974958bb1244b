"""uvicorn's HTTP/1.1 protocol with a deadline for each request's head.

The server takes MAX_CONNECTIONS connections at once (uvicorn's ``limit_concurrency``: 503
beyond them), and uvicorn counts a connection from its opening, whether or not it ever sends a
byte; its keep-alive timer starts only after an answer, and any byte received stops it. So 44
sockets opened and left silent (or sending a header line now and then) held every slot for
as long as they stayed open, and every real request, the Web UI's included, was answered 503,
before any token was checked (a review, 2026-12-07: /health 503 from +8 s to +38 s with 44
idle sockets, 200 once they closed). Here a connection whose request head has not arrived
within HEAD_SECONDS of its opening, or of the answer before, is closed, and so is one answered
before its body was read (a refusal: the rest of the body would keep it open, a byte at a
time, as long as the client liked) within LINGER_SECONDS of its answer. That bounds the
lockout, it does not end it: a caller may open the sockets again every few seconds. A proxy in
front (which a deployment beyond one machine has anyway: docs/deploy.md) holds slow clients
itself.
"""

import asyncio
from typing import Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# Browsers send a request head at once on a connection they open for one; a preconnected socket
# left unused that long is opened again when needed.
HEAD_SECONDS: Final = 10.0
# A connection answered before its body was read is closed this long after the answer: time
# for the client to finish sending (read and dropped) and to read the answer.
LINGER_SECONDS: Final = 2.0


class RequestHeadDeadline(H11Protocol):
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            # Answered before the body was read (a refused token, a 413, a 408): each byte the
            # client trickles after it stops uvicorn's keep-alive timer, and h11 waits for the
            # rest of a body nobody reads, so the slot was held for as long as the client
            # liked. Closed after LINGER_SECONDS, not at once: the body's bytes still arriving
            # are read (and dropped) meanwhile, so the client reads its answer; closed with
            # them unread, the kernel resets the connection and a 20 MB upload lost its 413.
            self._disarm()
            self._head_deadline = self.loop.call_later(LINGER_SECONDS, self._linger_over)
            return
        self._arm()  # the next request on this connection has its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self._head_deadline = self.loop.call_later(HEAD_SECONDS, self._head_late)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _linger_over(self) -> None:
        self._head_deadline = None
        # The client sent the rest of its body meanwhile (h11 then starts the next request:
        # its own head deadline, armed again); otherwise its time is up.
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self.transport.close()
        elif not self.transport.is_closing():
            self._arm()

    def _head_late(self) -> None:
        self._head_deadline = None
        # h11 leaves the peer's state IDLE until a whole request head has been read.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
