"""A delivery whose answer already went out needs no channel to be recorded: a worker whose
routing changed after an SMTP incident (e-mail tickets now by the webhook, no SMTP settings)
failed the receipt of a sent row for hours ("not configured for email"), and a redrive of it
ended DELIVERY_FAILED again."""

from pathlib import Path

from activities.delivery.activity import DeliveryActivities
from activities.delivery.attempt_time import attempt_deadline
from activities.delivery.config import DeliveryConfig, SmtpConfig, WebhookConfig
from shared.stores.sqlite_ledger import SqliteLedger
from shared.view import DeliveryRequest
from tests.support.smtp_server import smtp_server

REQUEST = DeliveryRequest(
    ticket_id="T-9",
    channel="email",
    customer_id="C-9",
    revision=1,
    text="Your refund is on its way.",
    subject="Refund",
    customer_email="customer@example.com",
    chain="run-1",
)


async def test_a_sent_rows_receipt_needs_no_channel_on_a_worker_routed_otherwise(
    tmp_path: Path,
) -> None:
    ledger = SqliteLedger(tmp_path / "outbox.sqlite3")
    with smtp_server() as server:
        smtp = SmtpConfig(
            host=server.host, port=server.port, sender="support@example.com", tls="none"
        )
        by_mail = DeliveryActivities(
            ledger, DeliveryConfig(per_channel={"email": "email"}, smtp=smtp)
        )
        first = await by_mail._deliver(REQUEST, attempt_deadline())
        await by_mail.aclose()
    rerouted = DeliveryActivities(
        ledger,
        DeliveryConfig(
            per_channel={"email": "webhook"},
            webhook=WebhookConfig(url="http://127.0.0.1:9/hook", secret="x" * 20),
        ),
    )
    try:
        again = await rerouted._deliver(REQUEST, attempt_deadline())
    finally:
        await rerouted.aclose()
        await ledger.close()

    assert (first.sent_via, first.already_delivered, len(server.mailbox.messages)) == (
        "email",
        False,
        1,
    )
    assert again.already_delivered and again.sent_via == "email" and again.sent_to is None
    assert again.idempotency_key == first.idempotency_key
