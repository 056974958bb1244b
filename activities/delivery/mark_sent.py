"""Marking a row sent after its answer went out (step 3 of activities/delivery/activity.py): told to
the server first, then written to the ledger, tried again while the ledger fails for now; and the
notes of a refusal or a doubt, tried again the same way."""

import asyncio
from typing import Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery.bounded import within
from activities.delivery.sent_word import SENT
from activities.heartbeat import carry
from shared import names
from shared.stores.ledger import DeliveryLedger, LedgerEntry

# After a send, marking the row sent is tried again after each of these pauses (seconds) when
# the ledger fails (a database restarting): a failure now means a retry that must not send.
MARK_SENT_PAUSES: Final = (0.5, 1.0, 2.0, 4.0)
# One write marking a row sent may take this long (a pool waiting for a database that is
# restarting waits longer), and the writes stop this long before the attempt's own limit, so
# a local attempt still says the answer went out (DeliverySentUnrecorded) rather than timing out.
MARK_SENT_TRY_SECONDS: Final = 5.0
MARK_SENT_MARGIN_SECONDS: Final = 3.0
# What a queued attempt keeps for marking the row sent, after the send, within its limit.
MARK_SENT_RESERVE_SECONDS: Final = 10.0


async def mark_sent(
    ledger: DeliveryLedger, entry: LedgerEntry, attempt_deadline: float
) -> LedgerEntry:
    """Record that this answer went out: told to the server first (a retry of a queued
    attempt reads it), then written to the ledger, trying again while it fails for now and
    the attempt has time left (each try bounded, so the last word is ours, not a timeout)."""
    local = activity.in_activity() and activity.info().is_local
    if activity.in_activity() and not local:
        carry(SENT, entry.idempotency_key)
    loop = asyncio.get_running_loop()
    deadline = attempt_deadline - MARK_SENT_MARGIN_SECONDS
    # A write that did not answer in its try is waited for again, not started again: each
    # one left running holds a pooled connection (and waits on the row's lock) for up to the
    # statement timeout, and a few deliveries doing that emptied the pool for everyone.
    write: asyncio.Future[LedgerEntry] | None = None
    for tries, pause in enumerate((*MARK_SENT_PAUSES, None)):
        left = deadline - loop.time()
        try:
            # The first try always (a second at least); later ones within the attempt.
            bound = max(1.0, left) if tries == 0 else max(0.0, left)
            if write is None or write.done():
                write = asyncio.ensure_future(
                    ledger.mark_sent(entry.ticket_id, entry.idempotency_key)
                )
            return await within(write, min(bound, MARK_SENT_TRY_SECONDS))
        except Exception as err:
            # (LookupError: the row holds another ticket's decision by now; ours went out
            # all the same, which the next attempt must know: no more tries.)
            retry = not isinstance(err, LookupError)
            if retry and pause is not None and deadline - loop.time() > pause:
                activity.logger.warning(
                    "ticket %s was sent; recording it failed (%s), trying again in %gs",
                    entry.ticket_id,
                    type(err).__name__,
                    pause,
                )
                await asyncio.sleep(pause)
                continue
            why = f"{type(err).__name__}: {err}"[:300]
            raise ApplicationError(
                f"the answer of ticket {entry.ticket_id} went out, but the ledger could not "
                f"record it ({why}); the next attempt records it without sending it again",
                entry.idempotency_key,
                type=names.DELIVERY_SENT_UNRECORDED_ERROR,
                # A local attempt hands over to the queue, which is told it went out.
                non_retryable=local,
            ) from None
    raise AssertionError("unreachable")


async def note_failure(
    ledger: DeliveryLedger,
    ticket_id: str,
    reason: str,
    attempt_deadline: float | None = None,
    key: str | None = None,
) -> None:
    """The reason kept on the row. Failing to write it must not replace the channel's verdict
    (the database may be what is down); a verdict the row's state depends on (a refusal, a
    doubt: ``attempt_deadline`` given) is tried again while the database fails for now and the
    attempt has time, with mark_sent's pauses. Each try is bounded as mark_sent's are: a
    database that stalled (a pool waiting 15 s a try for a restarting server) took the attempt
    past its limit, and the verdict (the doubt, which must stop the answer going out again)
    was lost to a start-to-close timeout."""
    pauses = MARK_SENT_PAUSES if attempt_deadline is not None else ()
    loop = asyncio.get_running_loop()
    # As in mark_sent: a write that did not answer in its try is waited for again, not
    # started again.
    write: asyncio.Future[None] | None = None
    for tries, pause in enumerate((*pauses, None)):
        if attempt_deadline is None:
            bound = MARK_SENT_TRY_SECONDS
        else:
            left = attempt_deadline - MARK_SENT_MARGIN_SECONDS - loop.time()
            bound = min(MARK_SENT_TRY_SECONDS, max(1.0, left) if tries == 0 else max(0.0, left))
        try:
            if write is None or write.done():
                write = asyncio.ensure_future(ledger.note_failure(ticket_id, reason, key))
            await within(write, bound)
            return
        except Exception as err:
            left = (attempt_deadline or 0.0) - MARK_SENT_MARGIN_SECONDS - loop.time()
            if pause is None or left <= pause:
                activity.logger.warning("could not note the failure of %s: %s", ticket_id, err)
                return
            await asyncio.sleep(pause)
