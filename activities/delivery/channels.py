"""The ways an answer leaves: what the delivery activity needs of a channel, and the channels a
worker's configuration builds (the webhook, e-mail over SMTP; the ledger alone needs none)."""

from typing import Protocol

from activities.delivery.config import EMAIL, WEBHOOK, DeliveryConfig
from activities.delivery.smtp import SmtpChannel
from activities.delivery.webhook import WebhookChannel
from shared.stores.ledger import LedgerEntry
from shared.view import DeliveryRequest


class Channel(Protocol):
    """``send`` returns once the destination accepted the answer, raises DeliveryRejected when
    it refused it for good and DeliveryUnavailable when not now; a real channel also states its
    ``timeout_seconds`` (the longest a send may take)."""

    def destination(self, request: DeliveryRequest) -> str: ...

    async def send(self, entry: LedgerEntry, request: DeliveryRequest) -> None: ...

    async def aclose(self) -> None: ...


def build_channels(config: DeliveryConfig) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if config.webhook is not None:
        channels[WEBHOOK] = WebhookChannel(config.webhook)
    if config.smtp is not None:
        channels[EMAIL] = SmtpChannel(config.smtp)
    return channels
