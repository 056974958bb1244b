"""Reading a provider's streamed answer through its SDK's own client, for ``LLMProvider``
(structured.py): the request within the attempt's time, every chunk within the idle, chunk and
byte limits, heartbeats while it streams, and the response closed however the reading ends.

A mixin: the provider supplies ``name``, ``config`` and ``_secrets``.
"""

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

from temporalio import activity

from activities.heartbeat import (
    attempt_time_left,
    beat,
    heartbeating,
    retries_time_left,
    trailing_beats,
)
from activities.providers.answer_format import (
    BYTES_PER_CHUNK,
    SHAPE_ERRORS,
    StreamTooLarge,
    chunk_limit,
    is_json,
    json_body,
    malformed_stream_error,
    not_streaming_error,
    read_at_most,
    too_large_error,
    too_long_error,
    unsendable_error,
)
from activities.providers.idle_watch import AnswerOutOfTime, idle_limit, no_later_than
from shared.provider_config import ProviderConfig

# An answer still streaming this long before its attempt's start-to-close timeout ends as the
# provider's timeout (idle_watch.AnswerOutOfTime), with what it was billed, while the worker can
# still report it: Temporal's own timeout cancels the call and reports no usage.
ATTEMPT_REPORT_MARGIN: Final = 2.0

# A stream that stopped mid-answer ends by the provider's own read timeout this share of the
# heartbeat timeout after its last chunk: by Temporal's heartbeat timeout (20 s against the
# provider's 90), the attempt was cancelled with no provider error to carry what it was billed,
# and the ticket's budget and cost missed every stalled attempt (a review, 2026-12-07).
STALL_SHARE_OF_HEARTBEAT: Final = 0.75


def _stalled_after() -> float | None:
    """Seconds without a chunk after which an answer under way has stalled: within this
    attempt's heartbeat timeout. None outside an activity or without one."""
    if not activity.in_activity():
        return None
    timeout = activity.info().heartbeat_timeout
    return STALL_SHARE_OF_HEARTBEAT * timeout.total_seconds() if timeout else None


class StreamedCalls:
    """The streamed request and its reading (the provider's name, configuration and secrets
    come from the provider class)."""

    name: str
    config: ProviderConfig
    _secrets: list[str]

    async def _stream_json(
        self,
        post: Callable[..., Awaitable[Any]],
        path: str,
        body: dict[str, Any],
        stream_cls: type[Any],
        take: Callable[[dict[str, Any]], None],
        begun: Callable[[], bool] | None = None,
    ) -> Any:
        """POST a streamed request through the SDK's own client (``post``: its authentication,
        timeouts, error classes, SSE parsing) and hand every chunk, a JSON object, to ``take``:
        no typed model per chunk (docs/performance.md). A heartbeat runs until the first chunk
        arrives, then every chunk is one; the response is closed however the loop ends. The SDK's
        exceptions pass through for the provider to classify; a stream that sends nothing for the
        provider's timeout ends with httpx2's ``ReadTimeout`` (``idle_watch.py``). Returns the
        stream (a ``stream_cls``), read to its end and closed."""
        ends_in, limit, _ = self._attempt_end()
        async with contextlib.AsyncExitStack() as opened:
            try:
                # Until the response starts there is no progress; nor past the attempt's end (a
                # repair request sent late in an attempt waited on its headers for the whole
                # read timeout, past start-to-close, and Temporal's timeout ended the attempt
                # with its calls' tokens counted nowhere).
                async with heartbeating(), no_later_than(ends_in) as bound:
                    stream = await post(
                        path, body=body, cast_to=object, stream=True, stream_cls=stream_cls
                    )
                    # Closed from here whatever happens: a cancellation landing as the
                    # heartbeats stop (before `async with stream`) left the response open, its
                    # connection held until the server gave up on it.
                    opened.push_async_callback(stream.close)
            except UnicodeEncodeError:
                raise unsendable_error(self.name) from None
            except TimeoutError:
                if bound is None or not bound.expired():
                    raise
                raise AnswerOutOfTime(f"the answer had not begun as {limit} ran out") from None
            await self._read_stream(stream, body, take, begun)
        return stream

    def _attempt_end(self) -> tuple[float | None, str, str]:
        """Seconds until this attempt must report (None: no bound of its own), the limit that
        ends it then ("the attempt's 120 s (...)"), and what to do about it."""
        left = attempt_time_left(ATTEMPT_REPORT_MARGIN)
        # As configured, the attempt is longer than the provider's timeout (settings.py checks
        # it): a shorter one is a test's or a hand-made call's, bounded by its own caller.
        if left is None or left[1] <= self.config.timeout_seconds:
            return None, "", ""
        ends_in, total = left
        retries_end = retries_time_left(ATTEMPT_REPORT_MARGIN)
        if retries_end is not None and retries_end < ends_in:
            # A late retry: the call's retry window ends before this attempt's own time.
            return (
                retries_end,
                "the call's retry window (its schedule-to-close: for a ticket, the time to its "
                "SLA deadline, at least 15 minutes)",
                "the provider failed or limited the attempts before it for most of that time",
            )
        return (
            ends_in,
            f"the attempt's {total:g} s (agent_timeouts.start_to_close_seconds)",
            "a model this slow needs it raised",
        )

    async def _read_stream(
        self,
        stream: Any,
        body: dict[str, Any],
        take: Callable[[dict[str, Any]], None],
        begun: Callable[[], bool] | None = None,
    ) -> None:
        """Every chunk of an open ``stream`` to ``take``, within the idle, chunk and byte limits
        (the caller closes it). ``begun``: whether the answer itself has begun, after the chunks
        taken so far (None: with the first chunk)."""
        ends_in, limit, advice = self._attempt_end()
        why_then = f"still arriving as {limit} ran out: {advice}"
        async with idle_limit(
            self.config.timeout_seconds, "the answer's stream", ends_in, why_then
        ) as idle:
            if is_json(stream.response.headers.get("content-type")):
                body = await json_body(stream.response)
                raise not_streaming_error(self.name, body, self._secrets)
            limit, chunks = chunk_limit(body, self.config.max_output_tokens), 0
            read_at_most(stream.response, limit * BYTES_PER_CHUNK)
            try:
                async with trailing_beats(), contextlib.AsyncExitStack() as first_chunk:
                    # Until the first chunk, still no progress to beat on: a server that sends
                    # its headers at once and its first token later (vLLM or SGLang with
                    # requests queued, a reasoning model thinking) had every attempt ended by
                    # the heartbeat timeout as a stall (a review, 2026-12-07). The idle limit
                    # still ends one that never sends it.
                    # An OpenAI-compatible server's first chunk may carry the role alone, its
                    # text coming after the model thought: the answer begins with its text.
                    await first_chunk.enter_async_context(heartbeating())
                    waiting = True
                    async for chunk in stream:
                        idle.seen()
                        beat()
                        chunks += 1
                        if chunks > limit:
                            raise too_long_error(self.name, limit)
                        if isinstance(chunk, dict):
                            take(chunk)
                        if waiting and (begun is None or begun()):
                            waiting = False
                            await first_chunk.aclose()
                            if (stalled := _stalled_after()) is not None:
                                idle.tighten(stalled)
            except SHAPE_ERRORS as err:
                raise malformed_stream_error(self.name, err, self._secrets) from None
            except StreamTooLarge as err:
                raise too_large_error(self.name, err.limit) from None
