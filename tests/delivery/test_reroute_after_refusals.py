"""An answer its channel refused for good goes out by the channel the workers route its ticket
to after the fix, however many times it was redriven before the fix, and never after a send
that may have gone out (activities/delivery/activity.py ``_rerouted``), on SQLite and on
PostgreSQL. The channels are fakes; the attempts run in the SDK's activity environment."""

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery.activity import DeliveryActivities
from activities.delivery.config import EMAIL, WEBHOOK, DeliveryConfig
from activities.delivery.errors import DeliveryRejected
from shared import names
from shared.delivery import idempotency_key, text_sha256
from shared.stores.ledger import DeliveryLedger, LedgerEntry, NewDelivery
from shared.view import DeliveryReceipt, DeliveryRequest

REQUEST = DeliveryRequest(
    ticket_id="T-1", channel="chat", customer_id="C-1", revision=1, text="Your answer."
)


class RefusingChannelFake:
    """E-mail for a chat ticket with no address: refused for good, every time."""

    def __init__(self) -> None:
        self.tried = 0

    def destination(self, request: DeliveryRequest) -> str:
        return "nobody"

    async def send(self, entry: LedgerEntry, request: DeliveryRequest) -> None:
        self.tried += 1
        raise DeliveryRejected("ticket T-1 has no customer_email")

    async def aclose(self) -> None:
        pass


class AcceptingChannelFake:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def destination(self, request: DeliveryRequest) -> str:
        return "https://receiver.example/hook"

    async def send(self, entry: LedgerEntry, request: DeliveryRequest) -> None:
        self.sent.append(entry.body)

    async def aclose(self) -> None:
        pass


def recorded_as_the_activity_does(sent_via: str) -> NewDelivery:
    digest = text_sha256(REQUEST.text)
    return NewDelivery(
        ticket_id=REQUEST.ticket_id,
        channel=REQUEST.channel,
        customer_id=REQUEST.customer_id,
        revision=REQUEST.revision,
        body=REQUEST.text,
        text_sha256=digest,
        idempotency_key=idempotency_key(REQUEST.ticket_id, digest, REQUEST.chain),
        sent_via=sent_via,
    )


def routed_to_email(ledger: DeliveryLedger, email: RefusingChannelFake) -> DeliveryActivities:
    return DeliveryActivities(ledger, DeliveryConfig(default_method=EMAIL), channels={EMAIL: email})


def routed_to_webhook(ledger: DeliveryLedger, hook: AcceptingChannelFake) -> DeliveryActivities:
    return DeliveryActivities(
        ledger, DeliveryConfig(default_method=WEBHOOK), channels={WEBHOOK: hook}
    )


async def test_an_answer_refused_then_redriven_before_the_fix_goes_out_after_it(
    ledger: DeliveryLedger,
) -> None:
    """Refused, redriven at once (refused again: the routing was still wrong), then routed to
    the webhook and redriven: the answer went nowhere before, so it goes by the webhook. Before
    the counts, the second refusal left the row on e-mail, which the workers no longer had:
    retried for hours."""
    email = RefusingChannelFake()
    before = routed_to_email(ledger, email)
    for _ in range(2):  # the ticket, then a redrive before the routing was fixed
        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(before.deliver_response, REQUEST)
        assert refused.value.type == names.DELIVERY_REJECTED_ERROR
    hook = AcceptingChannelFake()
    receipt: DeliveryReceipt = await ActivityEnvironment().run(
        routed_to_webhook(ledger, hook).deliver_response, REQUEST
    )

    assert email.tried == 2 and hook.sent == ["Your answer."]
    assert receipt.sent_via == WEBHOOK and receipt.already_delivered is False
    entry = await ledger.get("T-1")
    assert entry is not None and entry.sent_via == WEBHOOK and entry.sent_at is not None


async def test_a_refusal_after_a_send_that_never_reported_keeps_the_channel(
    ledger: DeliveryLedger,
) -> None:
    """The first attempt's worker died mid-send (its claim taken, nothing noted, the claim ran
    out); the next attempt was refused. The first may have delivered: the row stays on e-mail
    (the rule before the counts moved it: one attempt noted, refused)."""
    email = RefusingChannelFake()
    before = routed_to_email(ledger, email)
    await ledger.record(recorded_as_the_activity_does(EMAIL))
    assert await ledger.claim("T-1", "a-worker-that-died", 0) is True
    with pytest.raises(ApplicationError):
        await ActivityEnvironment().run(before.deliver_response, REQUEST)
    hook = AcceptingChannelFake()
    with pytest.raises(ApplicationError) as not_here:
        await ActivityEnvironment().run(routed_to_webhook(ledger, hook).deliver_response, REQUEST)

    assert not_here.value.type == names.DELIVERY_UNAVAILABLE_ERROR  # e-mail is not set up here
    assert hook.sent == []
    entry = await ledger.get("T-1")
    assert entry is not None and entry.sent_via == EMAIL and entry.sent_at is None
