"""``deliver_response``: exactly one answer per ticket, whichever worker runs the attempt.

1. Record the decision in the shared ledger (ticket id, revision, SHA-256 of the text, the
   idempotency key, the channel to use). A row already there wins: a retried, replayed or reset
   delivery never records or sends a different answer.
2. If the row is not marked sent, claim it (CLAIM_SECONDS, on the ledger's clock) and send the
   RECORDED text through the recorded channel. An attempt that finds another's claim holding
   does not send: a queued attempt waits for it a while (``claim_wait``, up to 20 s), then
   fails for now (DeliveryInProgress) and its retry finds the answer sent.
   Without the claim two overlapping attempts both sent: a local first attempt whose workflow
   task timed out (its worker cut off from Temporal) while another worker replayed the ticket
   and tried again, or a queued attempt whose heartbeat lapsed mid-send.
3. Mark the row sent (which ends the claim). The write is tried again for a few seconds; the
   attempt first tells the server the answer went out (in its heartbeat details), so a retry
   after the write failed for good (the database down) records it without sending again. A
   local first attempt says so in its error, and the workflow tells the queued attempt
   (``DeliveryRequest.sent_key``).

A crash between 2 and 3 (before the heartbeat reached the server) makes the next attempt send
again once the claim has run out, with the same idempotency key (the webhook's header, the
e-mail's Message-ID): at-least-once to the channel, one answer per ticket.
The receipt carries the hash of the text that went out, so the workflow can tell when that is not
the draft it asked for.
"""

import asyncio
import uuid
from collections.abc import Mapping

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery.asked_to_wait import asked_to_wait
from activities.delivery.attempt_time import (
    CLAIM_SECONDS,
    IN_PROGRESS_POLL,
    IN_PROGRESS_RETRY,
    attempt_deadline,
    claim_wait_within,
    out_of_time,
    retry_delay,
    too_little_left,
)
from activities.delivery.bounded import uncut, within
from activities.delivery.channels import Channel, build_channels
from activities.delivery.config import LEDGER, DeliveryConfig
from activities.delivery.errors import (
    not_sent_again,
)
from activities.delivery.local_attempts import LocalAttempts, busy
from activities.delivery.mark_sent import (
    MARK_SENT_TRY_SECONDS,
    mark_sent,
)
from activities.delivery.replaced_answer import (
    as_the_replaced_run_sent_it,
    log_the_replaced_answer,
)
from activities.delivery.sent_word import still_unrecorded, went_out_before
from activities.delivery.verdicts import send_noting
from activities.heartbeat import begin_attempt, heartbeating
from shared import names
from shared.delivery import idempotency_key, text_sha256
from shared.stores.ledger import (
    ChainErased,
    DeliveryLedger,
    LedgerEntry,
    NewDelivery,
    another_tickets,
    answered_by_the_run_replaced,
    refused_every_time,
    uncertain,
)
from shared.view import DeliveryReceipt, DeliveryRequest
from workflows.options import DELIVERY_START_TO_CLOSE

# Giving a claim back after the channel's verdict stops this long before the attempt's limit:
# the verdict (a doubt, a refusal) must reach the server before it times the attempt out.
RELEASE_MARGIN_SECONDS = 0.5


class DeliveryActivities:
    """Registered on the delivery queue (and on the tickets queue, for tickets started before
    delivery had a queue of its own)."""

    def __init__(
        self,
        ledger: DeliveryLedger,
        config: DeliveryConfig | None = None,
        channels: Mapping[str, Channel] | None = None,
        *,
        polls_delivery: bool = True,
    ) -> None:
        self.ledger = ledger
        self.config = config or DeliveryConfig()
        # Whether this worker polls the delivery queue (worker.py): one that does not makes a
        # first attempt only for a ticket channel its environment chose a way for.
        self.polls_delivery = polls_delivery
        self.channels = dict(channels) if channels is not None else build_channels(self.config)
        # A wait for another's claim must leave the send that may follow its whole timeout
        # within the attempt's limit: an attempt timed out mid-send keeps its claim, and the
        # next one sends again once the claim runs out.
        self.claim_wait = claim_wait_within(DELIVERY_START_TO_CLOSE.total_seconds(), self.config)
        # Local first attempts at once on this worker (the delivery queue's own limit, again),
        # and of those, the ones sending through a channel.
        self.local = LocalAttempts(self.config.concurrency)

    @activity.defn(name=names.DELIVER_RESPONSE)
    async def deliver_response(self, request: DeliveryRequest) -> DeliveryReceipt:
        # Heartbeats let the server notice a dead worker within the heartbeat timeout. What an
        # earlier attempt carried first: every beat then sends it, and what this one carries.
        if (waiting := asked_to_wait(request)) is not None:
            raise waiting
        begin_attempt()
        deadline = attempt_deadline()
        receipt: DeliveryReceipt | None = None
        try:
            async with heartbeating():
                receipt = await self._deliver(request, deadline, claim_wait=self.claim_wait)
            return receipt
        except asyncio.CancelledError as err:
            if receipt is not None:
                # Sent and recorded: a cancellation that lands after (as the heartbeats stop)
                # changes nothing. Raised, it was said as "went out, not recorded" (the answer
                # carried as sent), and the ticket ended DELIVERY_FAILED with its row sent.
                return receipt
            # Cancelled (the ticket, or this worker shutting down) with the answer known to
            # have gone out unrecorded: said as that, not as a cancellation, so the ticket does
            # not end CANCELLED with its answer out (and another worker's retry records it).
            said = still_unrecorded(err, request)
            if said is err:
                raise
            raise said from None
        except Exception as err:
            said = still_unrecorded(err, request)
            if said is err:
                raise
            raise said from None

    @activity.defn(name=names.DELIVER_RESPONSE_NOW)
    async def deliver_response_now(self, request: DeliveryRequest) -> DeliveryReceipt:
        """The first attempt as a local activity, on the worker that runs the ticket's workflow:
        no task-queue round trip, and five fewer events in the ticket's history than a queued
        delivery. Which ones a worker makes, and which it queues at once: local_attempts.py.
        Any failure that is not a refusal for good also sends the delivery to the queue, with
        its long retry policy."""
        if not self.local_first(request.channel):
            # Its ledger default is a guess: with the channel's settings (an SMTP password, a
            # webhook's secret) kept for the delivery workers, it recorded the answer as sent
            # through the ledger, and the customer got nothing.
            raise busy(
                "this worker polls no delivery queue and its environment chose no way for "
                f"{request.channel} answers (TICKETS_DELIVERY_CHANNEL): the delivery goes to "
                "the workers that poll it"
            )
        deadline = attempt_deadline()
        async with self.local.admitted(self.config.method_for(request.channel)):
            return await self._deliver(request, deadline)

    def local_first(self, channel: str) -> bool:
        """Whether this worker makes a first attempt for a ticket of ``channel`` itself: when it
        polls the delivery queue too, or its environment chose how that channel's answers go."""
        return self.polls_delivery or self.config.chose(channel)

    async def _record(self, request: DeliveryRequest, digest: str) -> tuple[LedgerEntry, bool]:
        return await self.ledger.record(
            NewDelivery(
                ticket_id=request.ticket_id,
                channel=request.channel,
                customer_id=request.customer_id,
                revision=request.revision,
                body=request.text,
                text_sha256=digest,
                idempotency_key=idempotency_key(request.ticket_id, digest, request.chain),
                sent_via=self.config.method_for(request.channel),
                chain=request.chain,
                replaces=tuple(request.replaces),
                customer_email=request.customer_email,
            )
        )

    async def _deliver(
        self, request: DeliveryRequest, deadline: float, claim_wait: float = 0
    ) -> DeliveryReceipt:
        """``deadline``: when the attempt's time is up (the event loop's clock); ``claim_wait``:
        how long to wait for another attempt's claim (0 for the local first attempt, which
        holds a workflow task slot while it runs)."""
        digest = text_sha256(request.text)
        try:
            entry, _ = await self._record(request, digest)
        except ChainErased as err:
            # Erased while this attempt ran (its workflow is gone): nothing to record or send.
            raise ApplicationError(
                str(err), type=names.TICKET_ERASED_ERROR, non_retryable=True
            ) from None
        replaced_answer = answered_by_the_run_replaced(request.replaces, entry)
        if replaced_answer and uncertain(entry):
            # That run handed its answer over and could not tell whether it arrived.
            raise not_sent_again(entry, "the run this one replaced")
        if replaced_answer:
            log_the_replaced_answer(request, entry)
            # Sent again (or named in the receipt) at the address it was for.
            request = as_the_replaced_run_sent_it(request, entry)
        elif another_tickets(request.chain, entry):
            # Another ticket of this id (one submitted before this one, or in another namespace
            # on the same database) is sending its own answer right now (its claim holds): this
            # one records its own once that send is over (the ledger keeps one row per id).
            raise ApplicationError(
                f"another ticket with the id {request.ticket_id} is sending its own answer now; "
                "this one is recorded once that send is over",
                type=names.DELIVERY_IN_PROGRESS_ERROR,
                next_retry_delay=retry_delay(IN_PROGRESS_RETRY),
            )
        if entry.text_sha256 != digest:
            activity.logger.warning(
                "ticket %s: the ledger holds revision %s with another text; that one is the "
                "answer (this request's revision %s is not sent)",
                request.ticket_id,
                entry.revision,
                request.revision,
            )
        entry = await self._rerouted(entry, request)
        if uncertain(entry):
            raise not_sent_again(entry, "an earlier attempt")
        already_sent = entry.sent_at is not None
        destination = None
        if entry.sent_via != LEDGER:
            # A send needs the row's channel; a receipt (a row sent, or an answer an earlier
            # attempt sent) does not: a worker re-routed after an incident failed those for hours.
            known = self.channels.get(entry.sent_via)
            destination = known.destination(request) if known is not None else None
            if not already_sent and went_out_before(entry, request):
                activity.logger.info(
                    "ticket %s: an earlier attempt sent the answer; recording it, not sending "
                    "it again",
                    entry.ticket_id,
                )
                # Like a send and its record (below), the record is not cut by a cancellation.
                entry = await uncut(mark_sent(self.ledger, entry, deadline))
            elif not already_sent:
                entry, already_sent = await self._send_claimed(
                    self._channel(entry), entry, request, claim_wait, deadline
                )
        elif not already_sent:
            # The row marked sent is the delivery: not cut by a cancellation either (the ticket
            # ended CANCELLED with its answer delivered), and waited for a try's time at most (a
            # stalled database held the cancellation and the worker's stop; the write left
            # running is found done by the next attempt).
            marking = self.ledger.mark_sent(entry.ticket_id, entry.idempotency_key)
            entry = await uncut(within(marking, MARK_SENT_TRY_SECONDS))
        if already_sent:
            activity.logger.info(
                "ticket %s was already delivered; not sending again", entry.ticket_id
            )
        return self._receipt(entry, already_sent, destination)

    @activity.defn(name=names.FIND_SENT_DELIVERY)
    async def find_sent_delivery(self, request: DeliveryRequest) -> DeliveryReceipt | None:
        """The receipt of the ticket's answer when the ledger says it went out (this ticket's,
        or the answer of a run it replaces), else None. A local activity of a ticket whose
        cancellation reached it in the workflow task that also held its queued delivery's end:
        the SDK then hands the workflow the cancellation, not the receipt, and the ledger's row
        is the truth (workflows/ticket_delivery.py)."""
        entry = await self.ledger.get(request.ticket_id)
        if entry is None or entry.sent_at is None:
            return None
        replaced = answered_by_the_run_replaced(request.replaces, entry)
        if another_tickets(request.chain, entry) and not replaced:
            return None
        if replaced:
            request = as_the_replaced_run_sent_it(request, entry)
        channel = self.channels.get(entry.sent_via)  # none for the ledger itself
        return self._receipt(entry, replaced, channel.destination(request) if channel else None)

    def _receipt(
        self, entry: LedgerEntry, already_sent: bool, destination: str | None
    ) -> DeliveryReceipt:
        return DeliveryReceipt(
            ticket_id=entry.ticket_id,
            channel=entry.channel,
            location=self.ledger.location(entry.ticket_id),
            delivered_at=entry.recorded_at,
            revision=entry.revision,
            already_delivered=already_sent,
            text_sha256=entry.text_sha256,
            idempotency_key=entry.idempotency_key,
            sent_via=entry.sent_via,
            sent_to=destination,
            sent_at=entry.sent_at,
        )

    async def _rerouted(self, entry: LedgerEntry, request: DeliveryRequest) -> LedgerEntry:
        """The row, moved to the channel this worker now uses for the ticket's channel when its
        recorded one refused it for good (nothing went out): an operator who fixed the routing
        and redrove the ticket otherwise had the old channel refuse it again, for good."""
        method = self.config.method_for(request.channel)
        # Only a row every send of which was refused: an earlier failure for now (a timeout, a
        # 5xx) may have delivered the answer through the old channel.
        if entry.sent_via == method or not refused_every_time(entry):
            return entry
        moved = await self.ledger.reroute(entry.ticket_id, entry.idempotency_key, method)
        if moved is None:
            # Another attempt moved it (or took it) meanwhile: the row as it is now.
            latest = await self.ledger.get(entry.ticket_id)
            same = latest is not None and latest.idempotency_key == entry.idempotency_key
            return latest if same and latest is not None else entry
        activity.logger.info(
            "ticket %s: %s refused its answer for good; sending it by %s now",
            entry.ticket_id,
            entry.sent_via,
            method,
        )
        return moved

    def _channel(self, entry: LedgerEntry) -> Channel:
        channel = self.channels.get(entry.sent_via)
        if channel is None:
            # The row was recorded by a worker configured for this channel; this one is not.
            # Retry: a worker that is (or this one, reconfigured) sends the recorded answer.
            raise ApplicationError(
                f"ticket {entry.ticket_id} is to be sent by {entry.sent_via}, which this worker "
                "is not configured for",
                type=names.DELIVERY_UNAVAILABLE_ERROR,
            )
        return channel

    async def _send_claimed(
        self,
        channel: Channel,
        entry: LedgerEntry,
        request: DeliveryRequest,
        wait: float,
        attempt_deadline: float,
    ) -> tuple[LedgerEntry, bool]:
        """Send under this attempt's claim and mark the row sent. Returns the row, and whether
        another attempt sent the answer since it was read (nothing sent here); raises
        DeliveryInProgress while another attempt's claim holds (after ``wait`` seconds of
        looking again)."""
        holder = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        if too_little_left(channel, attempt_deadline):
            raise out_of_time(entry)
        while not await self.ledger.claim(
            entry.ticket_id, holder, CLAIM_SECONDS, entry.idempotency_key
        ):
            latest = await self.ledger.get(entry.ticket_id)
            if (
                latest is not None
                and latest.idempotency_key == entry.idempotency_key
                and uncertain(latest)
            ):
                # The attempt this one waited for handed it over without learning its fate.
                raise not_sent_again(latest, "an earlier attempt")
            # Sent meanwhile: by an attempt of this ticket (its decision), or the row went to
            # another ticket of the id (then this one waits and records again on its retry).
            if (
                latest is not None
                and latest.sent_at is not None
                and latest.idempotency_key == entry.idempotency_key
            ):
                return latest, True
            # Still this decision's row, claimed by another attempt: wait for that attempt.
            # (Or the answer of a run this one replaces, which it sends again: answered_by_...)
            ours = (
                latest is not None
                and latest.idempotency_key == entry.idempotency_key
                and (
                    not another_tickets(request.chain, latest)
                    or answered_by_the_run_replaced(request.replaces, latest)
                )
            )
            if ours and loop.time() < deadline:
                await asyncio.sleep(IN_PROGRESS_POLL)
                if too_little_left(channel, attempt_deadline):
                    # Checked again before claiming: the wait came out of the time the send and
                    # its record need.
                    raise out_of_time(entry)
                continue
            raise ApplicationError(
                f"another attempt holds the send of ticket {entry.ticket_id}'s answer: it is "
                f"sending now, or its worker stopped and its claim runs out within "
                f"{CLAIM_SECONDS:.0f} s of that attempt's start; this one tries again after it",
                type=names.DELIVERY_IN_PROGRESS_ERROR,
                next_retry_delay=retry_delay(IN_PROGRESS_RETRY),
            )
        if too_little_left(channel, attempt_deadline):
            # The claim itself took the time (a slow database: a pool waiting for a connection,
            # a lock held elsewhere): sent now, the answer could go out past the attempt's limit
            # unrecorded, and again once the claim ran out. Given back with the send it counted
            # (else the row counts one more send than refusals, and can no longer move to
            # another channel); if that write does not finish in time, the claim runs out.
            await self._give_back(entry, holder, attempt_deadline, unsent=True)
            raise out_of_time(entry)
        # From here a cancellation (the ticket cancelled, the worker shutting down) waits for
        # the send and its record: cut midway, the answer could go out with the ledger saying
        # it did not (and a cancelled queued attempt's claim holding on for nothing).
        return await uncut(self._send_and_mark(channel, entry, request, holder, attempt_deadline))

    async def _send_and_mark(
        self,
        channel: Channel,
        entry: LedgerEntry,
        request: DeliveryRequest,
        holder: str,
        attempt_deadline: float,
    ) -> tuple[LedgerEntry, bool]:
        try:
            await send_noting(self.ledger, channel, entry, request, attempt_deadline)
        except Exception:
            # The channel said it failed: the next attempt need not wait the claim out.
            # Bounded by what is left of the attempt (the claim runs out anyway): the channel's
            # verdict must reach the server within the attempt's limit, a stalled database or
            # not. A fixed try after the verdict's own note had used the attempt up to its
            # margin took it past the limit: the server recorded a timeout instead of the doubt,
            # and the next attempt, finding a plain unsent row, sent the answer again.
            await self._give_back(entry, holder, attempt_deadline)
            raise
        return await mark_sent(self.ledger, entry, attempt_deadline), False

    async def _give_back(
        self, entry: LedgerEntry, holder: str, attempt_deadline: float, *, unsent: bool = False
    ) -> None:
        """Release this attempt's claim, within what is left of the attempt; a failure is
        logged (the claim runs out anyway)."""
        left = attempt_deadline - RELEASE_MARGIN_SECONDS - asyncio.get_running_loop().time()
        try:
            # With no time left it still goes, unwaited (``within`` leaves it to finish):
            # else the next attempt waits out the whole claim.
            release = self.ledger.release(entry.ticket_id, holder, unsent=unsent)
            await within(release, min(MARK_SENT_TRY_SECONDS, max(left, 0.01)))
        except Exception as err:
            activity.logger.warning("could not release %s: %s", entry.ticket_id, err)

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()
