"""A worker's own pacing of one provider's calls, for the seconds before the queue's rate holds.

Where the queue's rate comes from the provider's declared limit (or the adaptive controller),
the server knows no rate until a first answer has declared one, a worker has reported it and the
controller has set it: about a second in which a queue with a backlog hands out calls as fast as
the workers take them, 32 at once per worker, and most of them come back 429. Measured with
`python -m bench adaptive_limit`: 48 of 648 requests answered 429 in the declared-only mode
(7.4%) against 3 of 603 with the limit configured.

So, per provider and worker process:
- until the provider has answered once (any answer, a 429 included: its headers are what is
  missing), one call at a time goes out (the probe); the others wait until it has ended (its
  tokens counted too, which a token limit needs), and if it ended with no answer at all (a
  connection error), the next call probes; a call waits at most five seconds for the probe,
  then goes unpaced (a provider that answers nothing must not line every call up behind one);
- after that, while a limit is declared, calls go out no faster than the declared rate times
  the headroom, with a burst of a quarter second's worth.

A provider with ``requests_per_minute`` has no probe (its rate is known before the first call)
but the same pacing at its configured rate: the server's dispatch holds the rate, but a worker
whose event loop is busy (a burst of new tickets at start) sends the calls it was handed in
clumps, and a provider's bucket starts counting at the first call that arrives, not at the
server's dispatch. Measured with `python -m bench llm_rate_limit --tickets 150 --limited-only`,
one worker: 6-7 of 606 requests answered 429, all in the first second, before; 1 of 601 with a
second's burst; 0 of 600 with a quarter second's. Two workers drew 1.0-1.5% while each paced at
the whole rate; each now paces its share, the rate divided by the workers polling the queue
(peers.py): 0 of 600.

Once the queue's rate is in force the server hands out no more than that rate to all workers
together, so the pacing rarely holds a call back for long: it bounds what each worker sends in
the window before, and smooths its clumps after. Waiting calls take their turns in the order
they came, each at the rate in force when the one before it has gone, so a share that changes
(a peer stopped or joined) applies to the calls already waiting: with a slot fixed on arrival,
a survivor's waiting calls went at the old half share for 5-9 s after its peer stopped (2-4 s
now, the rest being the count's own delay; `--stop-one-after 20`, docs/rate-control.md). A
waiting call heartbeats (the caller waits inside ``heartbeating``), so an attempt that times out
meanwhile is cancelled, not sent late.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

# A wait shorter than this is rounding in the slot arithmetic, not a wait.
SLACK_SECONDS: Final = 1e-6
# The longest a call waits for the probe's answer before it goes anyway: a provider that does
# not answer at all (an outage at the worker's start) must not line every call up behind one.
PROBE_WAIT_SECONDS: Final = 5.0
# The calls a worker may send at once: a quarter second of the rate (at least one).
BURST_SECONDS: Final = 0.25


class CallPacer:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        answered: bool = False,
        probe_wait: float = PROBE_WAIT_SECONDS,
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self._probe_wait = probe_wait
        # True: no probe (the rate is known before the first call).
        self._answered = answered
        self._seen = False  # the probe's headers arrived
        self._probing = False
        # Made in the event loop that uses it (again if another loop does: tests run several).
        self._changed: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Calls take their turns one at a time, in the order they came (made per loop too).
        self._turns: asyncio.Lock | None = None
        self._waiting = 0  # calls waiting for their turn
        # The slot the last call went (or goes) at, clock seconds, and the interval of the rate
        # it was paced at.
        self._last: float | None = None
        self._interval = 0.0

    def _condition(self) -> asyncio.Condition:
        self._bind()
        assert self._changed is not None
        return self._changed

    def _lock(self) -> asyncio.Lock:
        self._bind()
        assert self._turns is not None
        return self._turns

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._changed is None or self._turns is None or self._loop is not loop:
            self._changed, self._turns, self._loop = asyncio.Condition(), asyncio.Lock(), loop

    async def turn(self, rate: Callable[[], float | None]) -> bool:
        """Wait until this call may go out; True when it is the probe (then ``ended`` must
        follow, whatever the call does). ``rate``: the calls a second this worker may send (None
        while none is declared), asked when the call's turn comes, so the calls released by the
        probe's answer are paced by what it declared and waiting calls by today's share."""
        changed = self._condition()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._probe_wait
        async with changed:
            while not self._answered:
                if not self._probing:
                    self._probing = True
                    self._seen = False
                    return True
                try:
                    await asyncio.wait_for(changed.wait(), max(deadline - loop.time(), 0.0))
                except TimeoutError:
                    # A probe this slow (a provider timing out at the worker's start): going
                    # unpaced, as before any pacing, beats holding every call behind it.
                    break
        await self._paced(rate)
        return False

    def answer_seen(self) -> None:
        """The provider answered (its headers arrived); the waiting calls go when the probe
        has ended."""
        self._seen = True

    async def ended(self) -> None:
        """The probe ended: answered, the waiting calls go; with no answer, the next one probes."""
        changed = self._condition()
        async with changed:
            self._probing = False
            self._answered = self._answered or self._seen
            changed.notify_all()

    def queued_seconds(self) -> float:
        """How far ahead of now the next free slot is: the calls already waiting for their turn,
        in seconds of the rate they were last paced at (0 when a call would go at once)."""
        if self._last is None:
            return 0.0
        ahead = self._last + self._interval - self._clock()
        return max(ahead, 0.0) + self._waiting * self._interval

    async def _paced(self, rate: Callable[[], float | None]) -> None:
        """One call's turn. Calls wait in the order they came, and each takes its slot when the
        one before it has gone, at the rate in force then (``rate`` is asked at that moment): a
        share that changes (a peer stopped or joined) applies to the calls already waiting."""
        self._waiting += 1
        turn = False
        try:
            async with self._lock():
                self._waiting -= 1
                turn = True
                await self._slot(rate())
        finally:
            if not turn:  # cancelled while waiting for its turn
                self._waiting -= 1

    async def _slot(self, rate: float | None) -> None:
        if rate is None or rate <= 0:
            return
        interval = 1.0 / rate
        burst = max(rate * BURST_SECONDS, 1.0)  # at least one call
        now = self._clock()
        # The slot after the last call's, or one in the past within the burst.
        earliest = now - (burst - 1) * interval
        previous = self._last, self._interval
        slot = earliest if previous[0] is None else max(previous[0] + interval, earliest)
        self._last, self._interval = slot, interval
        if slot - now > SLACK_SECONDS:
            try:
                await self._sleep(slot - now)
            except asyncio.CancelledError:
                # This call does not go: the next one takes its slot.
                self._last, self._interval = previous
                raise
