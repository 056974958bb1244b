"""The webhook channel: a signed JSON POST per answer, with the answer's idempotency key.

Every attempt for one answer sends the same body and ``Idempotency-Key``; the timestamp and the
signature are fresh each time (receivers reject stale timestamps, docs/delivery.md). What the
destination answers decides what Temporal does:

- 2xx: sent;
- 408, 409, 421, 425, 429, 5xx, a timeout or a connection error: retried with backoff (the
  destination's Retry-After sets the next attempt's delay, on any of those statuses);
- any other status (400, 401, 403, 404, 410, 422, a redirect...): refused for good, the ticket
  ends in DELIVERY_FAILED with the status and the start of the answer.
"""

import asyncio
import contextlib
import json
import time
from datetime import timedelta
from typing import Any, Final

import httpx2

from activities.delivery.config import WebhookConfig, display_url
from activities.delivery.errors import DeliveryRejected, DeliveryUnavailable
from activities.delivery.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)
from activities.providers.errors import MAX_RETRY_AFTER, retry_after_seconds
from shared.stores.ledger import LedgerEntry
from shared.view import DeliveryRequest

# 409: a receiver still working on this idempotency key (an earlier attempt's request): not a
# refusal of the answer, which may well have arrived. 421 (misdirected request): the connection
# reached the wrong server; a later attempt, once the client's idle connections closed (5 s),
# opens a new one.
RETRYABLE_STATUS: Final = frozenset({408, 409, 421, 425, 429})
EVENT: Final = "ticket.answer"
# How much of a refusing destination's answer goes into the ticket's failure reason, and how
# much of any answer is read at all (the rest is never downloaded).
REASON_SNIPPET_CHARS: Final = 200
ANSWER_READ_BYTES: Final = 4096


def webhook_body(entry: LedgerEntry, request: DeliveryRequest) -> bytes:
    """The documented JSON body (docs/delivery.md), from the ledger's row: the same bytes on
    every attempt."""
    document: dict[str, Any] = {
        "event": EVENT,
        "ticket_id": entry.ticket_id,
        "customer_id": entry.customer_id,
        "customer_email": request.customer_email,
        "channel": entry.channel,
        "subject": request.subject,
        "revision": entry.revision,
        "text": entry.body,
        "text_sha256": entry.text_sha256,
        "idempotency_key": entry.idempotency_key,
        "decided_at": entry.recorded_at.isoformat(),
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


async def _close(response: httpx2.Response) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5.0):
            await response.aclose()


class WebhookChannel:
    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.where = display_url(config.url)
        # Temporal owns retries: the client makes one request per attempt and follows nothing.
        self._closing: set[asyncio.Task[None]] = set()  # accepted answers' unread rests
        self._client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(config.timeout_seconds), follow_redirects=False
        )

    def destination(self, request: DeliveryRequest) -> str:
        return self.where

    async def send(self, entry: LedgerEntry, request: DeliveryRequest) -> None:
        body = webhook_body(entry, request)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: entry.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self.config.secret, timestamp, body),
        }
        # The whole exchange within the timeout: the client's own applies to each read, so a
        # receiver trickling a byte a second held the attempt for as long as it liked.
        deadline = asyncio.get_running_loop().time() + self.config.timeout_seconds
        try:
            async with asyncio.timeout_at(deadline):
                request = self._client.build_request(
                    "POST", self.config.url, content=body, headers=headers
                )
                response = await self._client.send(request, stream=True)
        except (TimeoutError, httpx2.TimeoutException):
            raise DeliveryUnavailable(
                f"the webhook at {self.where} did not answer within "
                f"{self.config.timeout_seconds:g}s"
            ) from None
        except httpx2.RequestError as err:  # transport, decoding of the answer, ...
            raise DeliveryUnavailable(
                f"cannot reach the webhook at {self.where}: {type(err).__name__}"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            # Accepted: the unread rest is closed in the background, so neither a slow close
            # nor a cancellation now can turn the accepted answer into a failure.
            self._close_later(response)
            return
        answer = await self._head(response, deadline)
        said = " ".join(answer.split())[:REASON_SNIPPET_CHARS]
        phrase = " ".join(response.reason_phrase.split())[:REASON_SNIPPET_CHARS]
        what = f"the webhook at {self.where} answered {status} {phrase}".rstrip()
        what += f": {said}" if said else ""
        if status in RETRYABLE_STATUS or status >= 500:
            wait = retry_after_seconds(dict(response.headers))
            delay = (
                timedelta(seconds=min(wait, MAX_RETRY_AFTER.total_seconds()))
                if wait is not None and wait > 0
                else None
            )
            raise DeliveryUnavailable(what, retry_after=delay)
        raise DeliveryRejected(what)

    async def _head(self, response: httpx2.Response, deadline: float) -> str:
        """The start of a refusal's body (ANSWER_READ_BYTES at most), for its reason, read by
        the attempt's deadline; what came by then if the rest is slow or cut off. The status
        line decides: a 400 whose body stalled was taken for a receiver that did not answer,
        and retried for hours before it ended DELIVERY_FAILED saying so."""
        head = b""
        try:
            async with asyncio.timeout_at(deadline):
                async for chunk in response.aiter_bytes():
                    head += chunk
                    if len(head) >= ANSWER_READ_BYTES:
                        break
                await response.aclose()
        except (TimeoutError, httpx2.HTTPError):
            self._close_later(response)
        except BaseException:
            # Cancelled (the ticket, the worker stopping) mid-read: its connection goes back.
            self._close_later(response)
            raise
        return head[:ANSWER_READ_BYTES].decode("utf-8", errors="replace")

    def _close_later(self, response: httpx2.Response) -> None:
        task = asyncio.get_running_loop().create_task(_close(response))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @property
    def timeout_seconds(self) -> float:
        return self.config.timeout_seconds

    async def aclose(self) -> None:
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self._client.aclose()
