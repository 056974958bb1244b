"""Reading one ticket's full view: a completed ticket's from its history (its workflow's
result), any other's from the workflow's status query, with the errors a person can act on.
``shared.operations`` re-exports ``ticket_status`` and uses the small helpers here too."""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import HistoryEventFilterType
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError, RPCStatusCode

from policy.transitions import TERMINAL_STATES, TicketState
from shared import names
from shared.encryption.codec import (
    PayloadDecryptionError,
    UnknownEncryptionKey,
    why_undecryptable,
)
from shared.operation_errors import NoWorker, TicketNotFound, TicketUnreadable
from shared.payload_store import PayloadStoreError
from shared.pending_calls import PendingCall, pending_calls
from shared.run_spend import EarlierRuns
from shared.stores.errors import PayloadIntegrityError, PayloadMissing
from shared.view import TicketView

# How long one status query may take before we fall back to what visibility knows.
QUERY_TIMEOUT = timedelta(seconds=10)


def ticket_handle(client: Client, ticket_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(names.ticket_workflow_id(ticket_id))


def not_found(ticket_id: str, client: Client) -> TicketNotFound:
    said = f"no ticket {ticket_id} on this server (namespace {client.namespace})"
    if ticket_id.startswith(names.TICKET_WORKFLOW_ID_PREFIX):
        # The Web UI's workflow id given for the ticket's.
        bare = ticket_id.removeprefix(names.TICKET_WORKFLOW_ID_PREFIX)
        said += f"; if {ticket_id} is ticket {bare}'s workflow id, give the ticket id: {bare}"
    return TicketNotFound(said)


def no_worker(what: str) -> NoWorker:
    return NoWorker(
        f"no worker answered {what}: is `python -m worker` running against this server "
        f"and namespace?"
    )


class StoppedState(StrEnum):
    """What a ticket whose workflow was stopped from outside shows as its state (``shown_state``):
    listed by the workflow's status, since the state it last recorded is still, say,
    AWAITING_REVIEW. Without these, ``list --state`` and the API's ``state`` found such a ticket
    under no state at all."""

    TERMINATED = "TERMINATED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def execution_status(self) -> str:
        """The visibility query's name for it."""
        return {"TERMINATED": "Terminated", "TIMED_OUT": "TimedOut"}[self.value]


# What a listing may filter on: a ticket's own states, then the stopped ones.
LISTED_STATES = (*TicketState, *StoppedState)
# The same as one enum, for an API parameter (one list of values in its schema and its 422).
ListedState = StrEnum("ListedState", [(str(s), str(s)) for s in LISTED_STATES])


def listed_state(text: str) -> TicketState | StoppedState:
    """A state to list by, in any case; ValueError naming the known ones."""
    name = text.strip().upper()
    for kind in (TicketState, StoppedState):
        try:
            return kind(name)
        except ValueError:
            pass
    raise ValueError(f"unknown state {text!r}; one of {', '.join(LISTED_STATES)}")


def shown_state(workflow_status: str, state: str | None) -> str | None:
    """The state to show for a ticket: its own, unless its workflow stopped without reaching a
    final one (terminated or timed out from outside: it could record nothing), when the state
    it last recorded (say AWAITING_REVIEW) would be a lie and the workflow's status is shown."""
    if workflow_status != WorkflowExecutionStatus.RUNNING.name and state not in TERMINAL_STATES:
        return workflow_status
    return state


@dataclass(frozen=True)
class TicketReading:
    """A ticket's view with its workflow's status, read together."""

    view: TicketView
    workflow_status: str  # the workflow's: RUNNING, COMPLETED, FAILED, TERMINATED, ...
    # What the runs this one replaced spent (a failed ticket started again): the view's usage
    # is this run's own.
    earlier_runs: EarlierRuns | None = None
    # What a running ticket's workflow waits on besides a person (an agent call retrying, one
    # no worker polls for): the server's description, not the view.
    pending: tuple[PendingCall, ...] = ()
    run_id: str | None = None  # the run read (the ticket's newest)

    @property
    def state(self) -> str:
        return shown_state(self.workflow_status, self.view.state) or self.workflow_status

    @property
    def awaiting_review(self) -> bool:
        """Waiting for a person: the view says so and its workflow can still take a review."""
        return (
            self.workflow_status == WorkflowExecutionStatus.RUNNING.name
            and self.view.state == TicketState.AWAITING_REVIEW
        )


async def ticket_status(client: Client, ticket_id: str) -> TicketView:
    """The full view. A ticket whose workflow completed returns it as its result: read from the
    history's last event, with no worker needed and nothing replayed (a dashboard polling closed
    tickets would otherwise cost a worker a replay each time, and fail with no worker running).
    Any other ticket answers the workflow's status query (a worker answers it, replaying the
    history of one that closed otherwise: failed, terminated). Its state is as the workflow
    last recorded it: ``read_ticket`` says whether the workflow still runs."""
    return (await read_ticket(client, ticket_id)).view


async def read_ticket(client: Client, ticket_id: str, *, calls: bool = True) -> TicketReading:
    """The view (as ``ticket_status``) and the status of its workflow; with ``calls``, what a
    running one waits on (``pending``: a question to the server per queue nobody has taken a
    call from)."""
    try:
        run = await _described(client, ticket_id)
        view = run.final or await _queried_view(client, ticket_id, run.run_id)
    except (PayloadMissing, PayloadIntegrityError, PayloadStoreError) as err:
        # Said as a ticket that cannot be read here (a process without the workers' database,
        # another machine's data directory), not an error of the caller's: the API answered 500.
        raise TicketUnreadable(
            f"ticket {ticket_id} refers to a payload kept outside its history that cannot be "
            f"read here: {_cut(str(err))}"
        ) from None
    pending: list[PendingCall] = []
    if calls and run.status == WorkflowExecutionStatus.RUNNING.name:
        pending = await pending_calls(client, run.pending)
    return TicketReading(view, run.status, run.earlier, tuple(pending), run.run_id)


async def waiting_on(client: Client, ticket_id: str) -> list[PendingCall]:
    """What a running ticket waits on (``read_ticket``'s ``pending``), from the server's
    description alone: no status query, no worker needed."""
    description = await ticket_handle(client, ticket_id).describe()
    if description.status is not WorkflowExecutionStatus.RUNNING:
        return []
    return await pending_calls(client, description.raw_description.pending_activities)


async def _queried_view(client: Client, ticket_id: str, run_id: str | None) -> TicketView:
    """The status query's answer, from the run described (a restart landing in between would
    otherwise mix two runs: this run's view beside the described run's status)."""
    handle = client.get_workflow_handle(names.ticket_workflow_id(ticket_id), run_id=run_id)
    try:
        return await handle.query(
            names.STATUS_QUERY, result_type=TicketView, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise not_found(ticket_id, client) from None
        # The server's own word when no worker has polled the queue for a while: "no poller
        # seen for task queue recently, worker may be down".
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED) or (
            "no poller seen" in err.message
        ):
            # A worker whose ring lacks the ticket's key fails the query's task, which reads
            # as no answer: name the key when this process lacks it too.
            if (missing := await _input_undecryptable(client, handle)) is not None:
                raise _undecryptable(ticket_id, missing) from None
            raise no_worker(f"the status query for {ticket_id}") from None
        if NEVER_STARTED in err.message.lower():
            return await _never_started(client, handle, ticket_id)
        if "workflow task in failed state" in err.message.lower():
            # Its worker fails every task of this ticket (a key its ring lacks, code that no
            # longer replays): the server answers no query until that is mended.
            if (missing := await _input_undecryptable(client, handle)) is not None:
                raise _undecryptable(ticket_id, missing) from None
            raise TicketUnreadable(
                f"ticket {ticket_id}'s worker fails its every workflow task, so it answers no "
                "status query now (the worker's log says why)"
            ) from None
        raise
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as err:
        # The likeliest cause: the ticket's history is under a key the worker's ring lacks (a
        # key retired too early), and workers and this process usually share one ring: then
        # say which key, as for a closed ticket, rather than point at the worker's log.
        if (missing := await _input_undecryptable(client, handle)) is not None:
            raise _undecryptable(ticket_id, missing) from None
        # With the project's failure converter the worker's message is encrypted, and a failed
        # query carries only the gRPC status's text: "Encoded failure".
        said = "" if str(err) == ENCODED_FAILURE else f": {_cut(str(err))}"
        raise TicketUnreadable(
            f"the worker could not answer the status query for ticket {ticket_id}{said} "
            "(the worker's log says why)"
        ) from None
    except (UnknownEncryptionKey, PayloadDecryptionError) as err:
        raise _undecryptable(ticket_id, err) from None


# The server's refusal of a query to a run that closed before any worker took its first task
# (terminated or timed out while no worker ran): nothing can answer for it.
NEVER_STARTED = "closed before workflowtaskstarted"


async def _never_started(
    client: Client, handle: WorkflowHandle[Any, Any], ticket_id: str
) -> TicketView:
    """The view of a ticket whose workflow closed before any worker took its first task: NEW
    (it recorded nothing else) with the subject it was sent with. The server's refusal reached
    the caller as an error, and the API answered it 503, as if the server were down."""
    payloads: list[Any] = []
    try:
        async for event in handle.fetch_history_events():
            payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
            break
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:  # erased or past retention since the query
            raise not_found(ticket_id, client) from None
        raise  # the server's own error, as any other read's
    subject = ""
    try:
        if payloads:
            [sent] = await client.data_converter.decode(payloads[:1], [dict])
            ticket = sent.get("ticket", sent) if isinstance(sent, dict) else None
            if isinstance(ticket, dict) and isinstance(ticket.get("subject"), str):
                subject = _cut(ticket["subject"])
    except (UnknownEncryptionKey, PayloadDecryptionError) as err:
        raise _undecryptable(ticket_id, err) from None
    except (PayloadMissing, PayloadIntegrityError, PayloadStoreError):
        raise  # said by read_ticket
    except Exception:  # an input no ticket reads: the view says only what is known
        subject = ""
    return TicketView(ticket_id=ticket_id, subject=subject, state=TicketState.NEW)


async def key_problem(client: Client, ticket_id: str) -> str | None:
    """Why this process cannot decrypt the ticket's input (naming the key, never its bytes), or
    None when it can: what a worker sharing its ring fails on too."""
    handle = client.get_workflow_handle(names.ticket_workflow_id(ticket_id))
    missing = await _input_undecryptable(client, handle)
    return None if missing is None else why_undecryptable(missing)


async def _input_undecryptable(
    client: Client, handle: WorkflowHandle[Any, Any]
) -> UnknownEncryptionKey | PayloadDecryptionError | None:
    """Why this process cannot decrypt the run's input (its first event), or None when it can
    (or has no history to read)."""
    try:
        async for event in handle.fetch_history_events():
            started = event.workflow_execution_started_event_attributes
            # The codecs alone: a payload stored outside (a reference) is not fetched.
            codec = client.data_converter.payload_codec
            if codec is not None:
                await codec.decode(list(started.input.payloads))
            return None
    except (UnknownEncryptionKey, PayloadDecryptionError) as err:
        return err
    except Exception:
        # Only a diagnosis on a failure path: whatever else goes wrong reading the history (the
        # server, a payload store), the caller's own message stands.
        return None
    return None


async def memo_if_readable(execution: Any) -> dict[str, Any] | None:
    """A listed or described workflow's memo, or None when this process cannot decrypt it (a
    key missing from its ring)."""
    try:
        return dict(await execution.memo())
    except (UnknownEncryptionKey, PayloadDecryptionError):
        return None


async def readable_memo(execution: Any) -> dict[str, Any]:
    """A listed or described workflow's memo, or {} when this process cannot decrypt it: one
    such ticket shows without its subject and totals instead of failing every list, queue and
    report it is in (a summary says it is unreadable: ``summary_from_execution``)."""
    return await memo_if_readable(execution) or {}


@dataclass(frozen=True)
class _Run:
    """The ticket's newest run as described: its status and id, the view it returned (None
    unless it completed) and what the runs it replaced spent."""

    status: str
    run_id: str | None
    final: TicketView | None
    earlier: EarlierRuns | None
    pending: tuple[PendingActivityInfo, ...] = ()


async def _described(client: Client, ticket_id: str) -> _Run:
    handle = ticket_handle(client, ticket_id)
    try:
        description = await handle.describe()
        status = description.status.name if description.status else "UNKNOWN"
        run_id = description.run_id or None
        earlier = EarlierRuns.of(await readable_memo(description))
        if description.status is not WorkflowExecutionStatus.COMPLETED:
            pending = tuple(description.raw_description.pending_activities)
            return _Run(status, run_id, None, earlier, pending)
        response = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=handle.id, run_id=description.run_id),
                history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
            ),
            retry=True,
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise not_found(ticket_id, client) from None
        raise
    events = response.history.events
    if not events or not events[-1].HasField("workflow_execution_completed_event_attributes"):
        return _Run(status, run_id, None, earlier)
    result = events[-1].workflow_execution_completed_event_attributes.result.payloads
    try:
        [view] = await client.data_converter.decode(result, [TicketView])
    except (UnknownEncryptionKey, PayloadDecryptionError) as err:
        raise _undecryptable(ticket_id, err) from None
    except PayloadIntegrityError:
        raise  # a stored payload that does not read, not a view of another version (read_ticket)
    except ValueError:
        # A result today's view does not read: the query builds today's.
        return _Run(status, run_id, None, earlier)
    return _Run(status, run_id, view if isinstance(view, TicketView) else None, earlier)


def _undecryptable(
    ticket_id: str, err: UnknownEncryptionKey | PayloadDecryptionError
) -> TicketUnreadable:
    return TicketUnreadable(
        f"ticket {ticket_id}'s status cannot be decrypted here: {why_undecryptable(err)}"
    )


# What the SDK's failure converter puts in place of a message it encrypted.
ENCODED_FAILURE = "Encoded failure"


def _cut(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
