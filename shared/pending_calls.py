"""What a running ticket waits on besides a person: its workflow's pending activities (an agent
call retrying after 429s, a delivery retrying, a call queued where no worker polls), read from
the server's description of the workflow, so `status` says why a ticket has not moved."""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from shared.encryption.codec import PayloadDecryptionError, UnknownEncryptionKey
from shared.queue_pollers import workers_polling

# A failure's message as shown (the provider's own words can be long).
FAILURE_CHARS = 300


class PendingCall(BaseModel):
    """One call the ticket's workflow waits on."""

    model_config = ConfigDict(frozen=True)

    activity: str = Field(description="the activity: classify_ticket, deliver_response, ...")
    task_queue: str = Field(description="where it waits for a worker: llm-openai, delivery, ...")
    attempt: int = Field(description="the attempt running or next, from 1")
    running: bool = Field(
        description="a worker has it now; false: scheduled, or waiting out a retry's backoff"
    )
    last_failure: str | None = Field(
        default=None, description="the previous attempt's failure: 'Type: message'"
    )
    next_attempt: datetime | None = Field(
        default=None, description="when the retry is due, while the call waits for it"
    )
    hands_on: bool = Field(
        default=False,
        description="it gives up waiting on its queue after a while (its route has a fallback): "
        "a queue nobody polls does not hold it for ever",
    )
    polled: bool | None = Field(
        default=None,
        description="whether any worker polls task_queue (false: nothing will take the call "
        "until one starts); null while the call runs, or when the server cannot say",
    )


async def pending_calls(client: Client, infos: Iterable[PendingActivityInfo]) -> list[PendingCall]:
    """The described workflow's pending activities; for each that no worker has, whether any
    worker polls its queue (one question per queue)."""
    calls = [await _call(client, info) for info in infos]
    polled: dict[str, bool | None] = {}
    for queue in {c.task_queue for c in calls if not c.running and c.task_queue}:
        try:
            polled[queue] = await workers_polling(client, queue, activities=True)
        except RPCError:
            polled[queue] = None  # a server that cannot say: nothing claimed either way
    return [
        c if c.running else c.model_copy(update={"polled": polled.get(c.task_queue)}) for c in calls
    ]


async def _call(client: Client, info: PendingActivityInfo) -> PendingCall:
    next_attempt = None
    if info.HasField("next_attempt_schedule_time"):
        next_attempt = info.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
    failure = None
    if info.HasField("last_failure"):
        failure = await _failure_text(client, info.last_failure)
    return PendingCall(
        activity=info.activity_type.name,
        task_queue=info.activity_options.task_queue.name,
        attempt=info.attempt,
        running=info.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
        last_failure=failure,
        next_attempt=next_attempt,
        hands_on=_gives_up_its_queue(info),
    )


def _gives_up_its_queue(info: PendingActivityInfo) -> bool:
    """A queue-wait (schedule-to-start) timeout shorter than the call's whole window: the server
    sets one equal to the window where the workflow set none, which gives up nothing earlier."""
    options = info.activity_options
    wait = options.schedule_to_start_timeout.ToTimedelta()
    window = options.schedule_to_close_timeout.ToTimedelta()
    return timedelta(0) < wait < window if window else timedelta(0) < wait


async def _failure_text(client: Client, failure: Failure) -> str:
    """ "Type: message", the message decrypted as the worker wrote it (the project's failure
    converter encrypts it), or said to be unreadable here."""
    kind = failure.application_failure_info.type or "failure"
    copy = Failure()
    copy.CopyFrom(failure)  # decoding works in place
    try:
        err = await client.data_converter.decode_failure(copy)
    except (UnknownEncryptionKey, PayloadDecryptionError):
        return f"{kind} (its message cannot be decrypted here)"
    if isinstance(err, ApplicationError) and err.type:
        kind = err.type
    message = str(getattr(err, "message", "") or err)
    if len(message) > FAILURE_CHARS:
        message = message[: FAILURE_CHARS - 1] + "…"
    return f"{kind}: {message}"


def describe_call(
    call: PendingCall, said_at: Callable[[datetime], str] | None = None
) -> tuple[str, bool]:
    """What a pending call is doing, and whether that is trouble (retrying, or nothing polls).
    ``said_at``: how a time reads (the team's zone; UTC by default)."""
    where = f"{call.activity} on {call.task_queue}"
    if call.running:
        said = f"{where}: running (attempt {call.attempt})"
    elif call.next_attempt is not None:
        at = said_at(call.next_attempt) if said_at else f"{call.next_attempt:%H:%M:%S} UTC"
        said = f"{where}: next attempt ({call.attempt}) at {at}"
    else:
        said = f"{where}: queued (attempt {call.attempt})"
    if call.last_failure:
        said += f"; attempt {call.attempt - 1} failed: {call.last_failure}"
    if call.polled is False:
        said += (
            f"; no worker polls {call.task_queue}, so nothing takes this call until one does "
            f"(`python -m worker` with a configuration that routes to it, or `--queues "
            f"{call.task_queue}`)"
        )
    return said, bool(call.last_failure) or call.polled is False


def stranded(calls: Iterable[PendingCall]) -> PendingCall | None:
    """The first call waiting on a queue no worker polls that will not leave it (no fallback
    route to hand it to): what a wait names instead of waiting in silence."""
    return next((c for c in calls if c.polled is False and not c.hands_on), None)
