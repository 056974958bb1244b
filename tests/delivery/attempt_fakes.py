"""What the delivery attempt tests share: a request, a channel that holds its sends, one
worker machine's delivery activities on a shared ledger, and a counter of refused claims."""

import asyncio

from activities.delivery.activity import DeliveryActivities
from activities.delivery.config import WEBHOOK, DeliveryConfig
from shared.stores.ledger import DeliveryLedger, LedgerEntry
from shared.view import DeliveryRequest

REQUEST = DeliveryRequest(
    ticket_id="T-1", channel="chat", customer_id="C-1", revision=1, text="Your answer."
)


class HeldChannelFake:
    """A channel whose sends wait for ``release``; counts what it sent."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.sent: list[str] = []
        self.fail_next = False

    def destination(self, request: DeliveryRequest) -> str:
        return "https://receiver.example/hook"

    async def send(self, entry: LedgerEntry, request: DeliveryRequest) -> None:
        self.started.set()
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the connection was reset")
        self.sent.append(entry.body)

    async def aclose(self) -> None:
        pass


def worker(ledger: DeliveryLedger, channel: HeldChannelFake) -> DeliveryActivities:
    """One worker machine's delivery activities (each its own, on the shared ledger)."""
    return DeliveryActivities(
        ledger, DeliveryConfig(default_method=WEBHOOK), channels={WEBHOOK: channel}
    )


def refusals_of(ledger: DeliveryLedger) -> list[bool]:
    """Whether each claim the ledger is asked for from now on was refused, in order."""
    refused: list[bool] = []
    claim = ledger.claim

    async def counted_claim(*args: object, **kwargs: object) -> bool:
        got = await claim(*args, **kwargs)  # type: ignore[arg-type]
        refused.append(not got)
        return got

    ledger.claim = counted_claim  # type: ignore[method-assign]
    return refused
