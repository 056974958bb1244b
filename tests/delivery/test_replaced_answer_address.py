"""A ticket submitted again under its id after a run that sent its answer (or began to) ended
without completing, now naming another address (a review, 2026-12-08): that run's answer is the
ticket's, and it was for the address recorded with it. The receipt named the new address for
an answer that went to the old one only, and a send begun was sent again to the new address
under the old run's key (two copies at two addresses; the key dedupes within one mailbox
only). Real SMTP server, each ledger backend; the activity called without Temporal."""

from activities.delivery.activity import DeliveryActivities
from activities.delivery.attempt_time import attempt_deadline
from activities.delivery.config import DeliveryConfig, SmtpConfig
from activities.delivery.smtp import message_id
from shared.delivery import text_sha256
from shared.stores.ledger import DeliveryLedger
from shared.view import DeliveryRequest
from tests.support.smtp_server import SmtpServer, smtp_server

OLD = DeliveryRequest(
    ticket_id="T-9",
    channel="email",
    customer_id="C-9",
    revision=1,
    text="Your refund is on its way.",
    subject="Refund",
    customer_email="old@example.com",
    chain="run-1",
)
# Submitted again (same content, same customer) with another address, after run-1 ended.
NEW = OLD.model_copy(
    update={"customer_email": "new@example.com", "chain": "run-2", "replaces": ["run-1"]}
)


def by_mail(ledger: DeliveryLedger, server: SmtpServer) -> DeliveryActivities:
    smtp = SmtpConfig(host=server.host, port=server.port, sender="support@example.com", tls="none")
    return DeliveryActivities(ledger, DeliveryConfig(per_channel={"email": "email"}, smtp=smtp))


async def test_a_sent_answer_is_named_at_the_address_it_went_to(ledger: DeliveryLedger) -> None:
    with smtp_server() as server:
        delivery = by_mail(ledger, server)
        try:
            first = await delivery._deliver(OLD, attempt_deadline())
            again = await delivery._deliver(NEW, attempt_deadline())
            found = await delivery.find_sent_delivery(NEW)
        finally:
            await delivery.aclose()

    assert server.mailbox.recipients == [["old@example.com"]]  # nothing sent again
    assert first.sent_to == "old@example.com"
    assert again.already_delivered and again.idempotency_key == first.idempotency_key
    assert again.sent_to == "old@example.com"
    assert found is not None and found.sent_to == "old@example.com"


async def test_a_send_begun_goes_again_only_where_it_began(ledger: DeliveryLedger) -> None:
    with smtp_server() as server:
        delivery = by_mail(ledger, server)
        try:
            # Run-1's send began and never learnt its fate (a timeout), then the run ended.
            begun, _ = await delivery._record(OLD, text_sha256(OLD.text))
            assert await ledger.claim("T-9", "run-1-attempt", 30, begun.idempotency_key)
            await ledger.release("T-9", "run-1-attempt")
            await ledger.note_failure("T-9", "timed out", begun.idempotency_key)

            again = await delivery._deliver(NEW, attempt_deadline())
        finally:
            await delivery.aclose()

    assert server.mailbox.recipients == [["old@example.com"]]
    [message] = server.mailbox.messages
    assert message["To"] == "old@example.com"
    assert message["Message-ID"] == message_id(begun.idempotency_key, "support@example.com")
    assert again.idempotency_key == begun.idempotency_key and not again.already_delivered
    assert again.sent_to == "old@example.com"


async def test_the_same_address_in_another_case_keeps_the_requests_spelling(
    ledger: DeliveryLedger,
) -> None:
    with smtp_server() as server:
        delivery = by_mail(ledger, server)
        try:
            await delivery._deliver(OLD, attempt_deadline())
            shouted = NEW.model_copy(update={"customer_email": "Old@Example.com"})
            again = await delivery._deliver(shouted, attempt_deadline())
        finally:
            await delivery.aclose()

    assert again.already_delivered and again.sent_to == "Old@Example.com"
