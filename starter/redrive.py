"""``python -m starter redrive --state FAILED|UNANSWERED|DELIVERY_FAILED --since 24h [--yes]``:
after an outage, start again the tickets it broke, without any ticket getting a second, different
answer.

- ``FAILED``: retries and fallbacks ran out before an answer was decided (a provider down for
  hours, a key revoked). Nothing was delivered, so the ticket starts again from its original
  input, read from the first event of its history, under the same workflow id (the id reuse
  policy allows it for failed runs only), on the task queue it ran on. A ticket whose id the
  delivery ledger knows is not restarted: an answer was decided for it.
- ``UNANSWERED``: nobody reviewed it by its final review deadline, and nothing was sent. It
  starts again from its original input as a FAILED ticket does (a new draft, the agents paid
  again, what its run spent kept in its totals), and waits for review again with a new final
  deadline. A ticket whose id the ledger knows is not restarted.
- ``DELIVERY_FAILED``: the answer was decided and recorded in the ledger, but the channel refused
  it or stayed down (a receiver's outage, a wrong address since fixed). The ticket's workflow is
  reset to the workflow task that scheduled its delivery: everything before (the draft, the
  review) is kept as it happened, the delivery runs again, and the delivery activity sends the
  answer the ledger holds, with the same idempotency key; never a new draft. The ticket then
  completes as delivered. A ticket the ledger has no answer for is left alone; one whose row
  is marked sent is reset too (its delivery finds it sent, sends nothing and completes it).
  One whose delivery said its answer went out but could not be recorded (the ledger down
  through every retry) has the row marked sent first (``record-sent``): the delivery, run
  again, finds it sent, and the customer gets no second copy.
  A ledger row of another ticket with the same id (another workflow chain: docs/delivery.md) is
  not this ticket's answer: a FAILED ticket restarts, a DELIVERY_FAILED one is redelivered (its
  delivery records its own answer again). The answer of a run this ticket was started to
  replace, which the ledger kept for it, is (its memo names those runs): ``--arrived`` and
  ``--not-arrived`` settle it. The plans are starter/redrive_plans.py's.

Dry run by default: it says what it would do and changes nothing. Tickets redriven before (a newer
run of the same workflow exists) are skipped, so running it twice does no harm.
"""

import argparse
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError

from policy.transitions import TicketState
from shared import names, run_spend
from shared import operations as ops
from shared import search_attributes as sa
from shared.encryption.codec import PayloadDecryptionError, UnknownEncryptionKey
from shared.operation_errors import OperationError
from shared.stores.config import StoreConfig
from shared.stores.errors import StoreUnavailable
from shared.stores.factory import build_stores
from shared.stores.ledger import DeliveryLedger
from shared.ticket_status import readable_memo
from starter import render
from starter.connection import open_client
from starter.errors import EXIT_OK, EXIT_PARTIAL, CliError, UsageError
from starter.progress import Progress
from starter.redrive_plans import (
    MAX_SCANNED_RUNS,
    REDRIVEN_BEFORE,
    RedriveItem,
    RedriveReport,
    plan_delivery_failed,
    plan_failed,
)
from starter.redrive_report import print_report

REDRIVABLE: Final = (TicketState.FAILED, TicketState.DELIVERY_FAILED, TicketState.UNANSWERED)
DEFAULT_SINCE: Final = timedelta(hours=24)
DEFAULT_LIMIT: Final = 1_000
MAX_LIMIT: Final = 10_000

RESET_REASON: Final = "redrive: deliver the answer recorded in the ledger again (starter redrive)"

# What an operator wrote on a row that may have been delivered, after finding it did not arrive
# (the row is no longer "may have been delivered", so its delivery, run again, sends it).
CHECKED_NOT_ARRIVED: Final = "an operator checked the destination: it did not arrive"


def redrivable_state(text: str) -> TicketState:
    value = text.strip().upper()
    if value not in {s.value for s in REDRIVABLE}:
        raise argparse.ArgumentTypeError(
            f"{text!r}: only {', '.join(s.value for s in REDRIVABLE)} tickets are redriven"
        )
    return TicketState(value)


def candidates_query(state: TicketState, since: datetime) -> str:
    at = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"WorkflowType = '{names.TICKET_WORKFLOW}' AND {sa.TICKET_STATE.name} = "
        f"'{TicketState(state).value}' AND ExecutionStatus != 'Running' AND CloseTime >= '{at}'"
    )


async def plan(
    client: Client,
    ledger: DeliveryLedger,
    state: TicketState,
    since: timedelta,
    limit: int,
    checked: Mapping[str, bool] | None = None,
) -> RedriveReport:
    start = datetime.now(UTC) - since
    report = RedriveReport(state=state.value, since=start, applied=False)
    seen: set[str] = set()
    counted = listed = 0
    # The listing is newest first, and a ticket redriven before keeps its old closed run in
    # it: those are skipped without counting against --limit (they did, and a second redrive
    # with the same --limit looked at the same newest runs, skipped them all and stopped,
    # every older ticket out of its reach), up to MAX_SCANNED_RUNS runs in all. So the same
    # command run again reaches further each time, until the window is done.
    async for execution in client.list_workflows(
        candidates_query(state, start), limit=MAX_SCANNED_RUNS + 1
    ):
        listed += 1
        if counted >= limit or listed > MAX_SCANNED_RUNS:
            report.more_past_limit = True
            report.past_scan_ceiling = listed > MAX_SCANNED_RUNS
            break
        if execution.id in seen:
            continue
        seen.add(execution.id)
        item = RedriveItem(
            ticket_id=names.ticket_id_from_workflow_id(execution.id),
            workflow_id=execution.id,
            run_id=execution.run_id,
            action="skip",
            why="",
            task_queue=execution.task_queue,
        )
        try:
            item = await _plan_one(client, ledger, state, item, checked)
        except RPCError as err:  # deleted meanwhile, the server in trouble
            item.why = f"could not be read: the server answered: {err.message}"
            item.unreadable = True
        except (UnknownEncryptionKey, PayloadDecryptionError) as err:
            # Its input under a key missing from this ring (or a damaged payload).
            item.why = f"could not be read here ({type(err).__name__}): not redriven"
            item.unreadable = True
        report.tickets.append(item)
        if not item.why.startswith(REDRIVEN_BEFORE):
            counted += 1
    return report


async def _plan_one(
    client: Client,
    ledger: DeliveryLedger,
    state: TicketState,
    item: RedriveItem,
    checked: Mapping[str, bool] | None,
) -> RedriveItem:
    """One ticket's plan; a skip says why. (One unreadable ticket ended the whole command with
    nothing redriven.)"""
    execution_run = item.run_id
    latest = await client.get_workflow_handle(item.workflow_id).describe()
    item.chain = latest.raw_description.workflow_execution_info.first_run_id or None
    if latest.run_id != execution_run:
        status = latest.status.name if latest.status else "UNKNOWN"
        item.why = f"{REDRIVEN_BEFORE}: a newer run {latest.run_id} is {status}"
    elif state in (TicketState.FAILED, TicketState.UNANSWERED):
        memo = await readable_memo(latest)
        item.earlier_usage = run_spend.carried_forward(memo)
        item.replaces = ops.replaced_chains(memo, None)
        item.unanswered = state is TicketState.UNANSWERED
        item = await plan_failed(client, ledger, item)
        if (
            item.action == "restart"
            and not memo
            and latest.raw_description.workflow_execution_info.memo.fields
        ):
            item.why += (
                " (what it spent so far is in a memo this key ring cannot read: the new "
                "run's totals leave it out)"
            )
    else:
        item.replaces = ops.replaced_chains(await readable_memo(latest), None)
        item = await plan_delivery_failed(client, ledger, item, checked)
    return item


async def _apply_one(
    client: Client, ledger: DeliveryLedger, report: RedriveReport, item: RedriveItem
) -> None:
    """One planned ticket redriven; what went wrong is noted on it (the others go on)."""
    try:
        if item.action in ("redeliver", "record-sent", "resend"):
            # Another redrive (run at the same time, from a plan of the same moment) may
            # have reset it since: a second reset ended the first one's run, whose delivery
            # could be mid-send.
            latest = await client.get_workflow_handle(item.workflow_id).describe()
            if latest.run_id != item.run_id:
                item.error = f"redriven meanwhile: a newer run {latest.run_id}; not reset"
                return
        if item.action == "record-sent":
            assert item.idempotency_key is not None
            try:
                await ledger.mark_sent(item.ticket_id, item.idempotency_key)
            except Exception as err:  # the database, or the row taken over meanwhile
                item.error = f"could not record it sent ({type(err).__name__}): not reset"
                return
        if item.action == "resend":
            try:
                # Only the answer planned: a row another ticket of the same id took over
                # meanwhile keeps its own mark.
                await ledger.note_failure(item.ticket_id, CHECKED_NOT_ARRIVED, item.idempotency_key)
            except Exception as err:  # the database
                item.error = f"could not clear its mark ({type(err).__name__}): not reset"
                return
        if item.action == "restart":
            assert item.request is not None and item.task_queue is not None
            # start_ticket carries what the failed run spent into the new run's memo.
            outcome = await ops.start_ticket(
                client,
                item.request.ticket,
                item.task_queue,
                reopen_unanswered=report.state == TicketState.UNANSWERED.value,
            )
            if not outcome.started:
                item.error = f"not restarted: the ticket is {outcome.state} now"
                return
            try:
                latest = await client.get_workflow_handle(item.workflow_id).describe()
                item.new_run_id = latest.run_id
            except RPCError:
                # Started: not an error (its run id unread; `status` shows it).
                item.new_run_id = "(started; run id not read)"
        if item.action in ("redeliver", "record-sent", "resend"):
            assert item.reset_event_id is not None
            response = await client.workflow_service.reset_workflow_execution(
                ResetWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(
                        workflow_id=item.workflow_id, run_id=item.run_id
                    ),
                    reason=RESET_REASON,
                    workflow_task_finish_event_id=item.reset_event_id,
                    request_id=str(uuid.uuid4()),
                )
            )
            item.new_run_id = response.run_id
    except RPCError as err:
        item.error = f"the server answered: {err.message}"
    except (OperationError, StoreUnavailable, ops.SearchAttributesMissing, OSError) as err:
        # The one ticket's (its search attributes missing, the payload store down): the
        # others go on and the report names each, the ones already redriven too.
        item.error = f"{type(err).__name__}: {err}"


async def apply(
    client: Client,
    ledger: DeliveryLedger,
    report: RedriveReport,
    on_done: Callable[[], None] | None = None,
) -> None:
    """Each planned ticket redriven in turn; ``on_done`` is told of each (a progress line)."""
    for item in report.tickets:
        await _apply_one(client, ledger, report, item)
        if on_done is not None:
            on_done()
    report.applied = True


async def run_redrive(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT:,}")
    checked = {**dict.fromkeys(args.not_arrived, False), **dict.fromkeys(args.arrived, True)}
    if both := sorted(set(args.arrived) & set(args.not_arrived)):
        raise UsageError(f"{', '.join(both)}: given both --arrived and --not-arrived")
    if checked and args.state is not TicketState.DELIVERY_FAILED:
        raise UsageError("--arrived and --not-arrived are for --state DELIVERY_FAILED")
    stores_config = StoreConfig.from_env()
    # A host without the workers' ledger: an empty one made here planned every FAILED ticket
    # whose answer did go out for a restart (its agents paid again), silently.
    if problem := stores_config.no_workers_ledger():
        raise CliError(problem)
    client = await open_client()
    # A dry run reads: a newer checkout's must not migrate the workers' database.
    async with build_stores(stores_config, migrates=args.yes) as stores:
        report = await plan(client, stores.ledger, args.state, args.since, args.limit, checked)
        # Before anything is applied.
        if problem := flags_against_plan(report.tickets, checked):
            raise CliError(problem)
        if args.yes:
            async with Progress(len(report.tickets), "redriven") as progress:
                await apply(client, stores.ledger, report, on_done=progress.one_done)
    if args.json:
        render.print_json(report)
    else:
        print_report(report, args.since)
    failed = [t for t in report.tickets if t.error]
    if failed:
        raise CliError(f"{len(failed)} ticket(s) could not be redriven (see above)")
    # A script must not read success while tickets it asked about were left unread.
    if unread := [t for t in report.tickets if t.unreadable]:
        raise CliError(
            f"{len(unread)} ticket(s) could not be read, so were left as they are (see above)"
        )
    # Tickets in the window were not looked at: not done (a script read 0 with some left).
    return EXIT_PARTIAL if report.more_past_limit else EXIT_OK


def flags_against_plan(tickets: list[RedriveItem], checked: dict[str, bool]) -> str | None:
    """What is wrong with the --arrived / --not-arrived flags given, against the plan (None:
    nothing). An --arrived given for a ticket the plan sends again (its row not in doubt) was
    refused only after the resend; a --not-arrived for an answer its delivery said went out
    (planned "record-sent") was applied as recorded sent, the customer never answered. A flag
    for a ticket redriven before (its old run still listed) is settled: the same command run
    again, after an interruption or an exit 3 that said to, refused every ticket it had not
    reached yet (a review, 2026-12-08)."""
    acted = {t.ticket_id for t in tickets if t.action in ("record-sent", "resend")}
    settled = {t.ticket_id for t in tickets if t.flag_used or t.why.startswith(REDRIVEN_BEFORE)}
    if unused := sorted(set(checked) - acted - settled):
        return (
            f"{', '.join(unused)}: not a DELIVERY_FAILED ticket of the window whose answer "
            "may have been delivered (nothing was done)"
        )
    contrary = sorted(
        t.ticket_id
        for t in tickets
        if t.ticket_id in checked
        and t.action in ("record-sent", "resend")
        and (t.action == "record-sent") != checked[t.ticket_id]
    )
    if contrary:
        return (
            f"{', '.join(contrary)}: the plan goes against --arrived/--not-arrived (its "
            "delivery said the answer went out, or the ledger says so: the dry run says why; "
            "nothing was done)"
        )
    return None
