"""Deleting a customer's ticket workflows for ``erase`` (starter/erase.py): every run by its id,
its children first, then what a running ticket started since it was listed, and a check for
runs of its id started meanwhile."""

import asyncio
from typing import TYPE_CHECKING, Final

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from starter.erase_find import ErasedTicket
from starter.errors import CliError

if TYPE_CHECKING:
    from starter.erase import ErasureReport

# Deletion is asynchronous on the server; this long for every execution to be gone.
DELETION_TIMEOUT_SECONDS: Final = 60.0


async def delete_execution(client: Client, workflow_id: str, run_id: str) -> int:
    """Delete one run from Temporal (a running one is terminated first by the server). Returns
    how many deletions were asked for (0: it was gone already)."""
    try:
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return 0
    return 1


async def _wait_gone(client: Client, workflow_id: str, run_id: str, timeout: float) -> None:
    """Until that run is gone (by its run id: another ticket may hold the id by now)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return
            raise
        if loop.time() >= deadline:
            raise CliError(f"{workflow_id} was asked to be deleted but is still there")
        await asyncio.sleep(0.2)


class DeletionInterrupted(Exception):
    """The wait for the server's deletions was cancelled (Ctrl-C); ``asked``: the tickets whose
    deletion had been asked."""

    def __init__(self, asked: list["ErasedTicket"]) -> None:
        super().__init__("interrupted")
        self.asked = asked


async def delete_workflows(
    client: Client, tickets: list[ErasedTicket], report: "ErasureReport"
) -> list[ErasedTicket]:
    """Delete every run of each ticket and wait until the server has; the tickets whose deletion
    was asked. One the server refused, or did not finish deleting, is in ``report.failed`` with
    why, and the others go on: an error used to end the command there, with no report, its
    payloads and rows left behind and the tickets already deleted no longer found by a second
    run. A cancelled wait raises ``DeletionInterrupted`` with the tickets asked."""
    asked: list[ErasedTicket] = []
    for ticket in tickets:
        # Its children first: they are found through the ticket's own runs, so a ticket whose
        # runs went before a child's deletion failed could no longer be found, and the child
        # (the resolution's input holds the customer's text) stayed for good.
        own_sent = False
        try:
            if ticket.running:
                # Started since the listing, while they still run: deleted with the rest (a
                # run deleted while it runs goes at once; one its parent's deletion closed, in
                # tens of seconds, after its close is recorded).
                _take(ticket, await _descendants(client, ticket))
            runs = [*ticket.child_runs, *((ticket.workflow_id, r) for r in ticket.runs)]
            # Each run by its id: by the id alone the server deletes the latest run only, which
            # may be another ticket's, and an older one (with this ticket's text) survives.
            for workflow_id, run_id in runs:
                report.workflow_executions += await delete_execution(client, workflow_id, run_id)
                own_sent = own_sent or workflow_id == ticket.workflow_id
        except RPCError as err:
            report.failed.append(
                f"{ticket.workflow_id}: not deleted: {err.message} (fenced already: it records "
                "no answer any more)"
            )
            continue
        except asyncio.CancelledError:
            # Ctrl-C while the deletions went out: the tickets asked so far (and this one, once
            # a run of its own went: it may no longer be found) lose their payloads and rows
            # now, as after a cut wait; before, they kept them where no later run finds them.
            raise DeletionInterrupted([*asked, ticket] if own_sent else asked) from None
        asked.append(ticket)
    for ticket in asked:
        runs = [(ticket.workflow_id, r) for r in ticket.runs] + ticket.child_runs
        try:
            for workflow_id, run_id in runs:
                await _wait_gone(client, workflow_id, run_id, DELETION_TIMEOUT_SECONDS)
        except (RPCError, CliError) as err:
            said = err.message if isinstance(err, RPCError) else str(err)
            report.failed.append(
                f"{ticket.workflow_id}: deletion asked, not finished ({said}); its payloads and "
                "row are erased now"
            )
        except asyncio.CancelledError:
            raise DeletionInterrupted(asked) from None
        try:
            if ticket.running:  # an ended ticket started nothing since it was listed
                report.workflow_executions += await _late_descendants_deleted(client, ticket)
        except (RPCError, CliError) as err:
            said = err.message if isinstance(err, RPCError) else str(err)
            report.failed.append(
                f"{ticket.workflow_id}: a run it started during the erasure was not deleted "
                f"({said}); run erase again"
            )
        except asyncio.CancelledError:
            raise DeletionInterrupted(asked) from None
        try:
            newer = await _runs_left(client, ticket)
        except asyncio.CancelledError:
            raise DeletionInterrupted(asked) from None
        if newer is not None:
            report.failed.append(newer)
    return asked


# A run of the ticket's id that may have started meanwhile, where the runs could not be listed.
UNCHECKED_RUN: Final = "(not known)"
# How many times a ticket's descendants are listed again once its runs are deleted.
DESCENDANT_ROUNDS: Final = 3


async def _late_descendants_deleted(client: Client, ticket: ErasedTicket) -> int:
    """Delete what the ticket's runs started after they were listed (its orchestrator run, a
    sub-task), found by their parent runs; how many deletions that asked. Listed from the
    histories while the ticket ran, a child started between the listing and the deletion was
    terminated by its parent's deletion instead of deleted, its input holding the customer's
    text, and no later erase found it (its parent gone). Once the ticket's runs are deleted
    they start nothing more; a child's record reaches visibility a moment after its start, so
    the listing is read again until it holds nothing new."""
    asked = 0
    for _ in range(DESCENDANT_ROUNDS):
        found = await _descendants(client, ticket)
        if not found:
            break
        _take(ticket, found)
        for workflow_id, run_id in found:
            asked += await delete_execution(client, workflow_id, run_id)
        for workflow_id, run_id in found:
            await _wait_gone(client, workflow_id, run_id, DELETION_TIMEOUT_SECONDS)
    return asked


# How deep a ticket's descendants go: its orchestrator run, that run's sub-tasks, and one more.
MAX_DEPTH: Final = 4


async def _descendants(client: Client, ticket: ErasedTicket) -> list[tuple[str, str]]:
    """The runs visibility lists under the ticket's runs, parent by parent, that it has not
    listed: exactly this ticket's (by run id, not another ticket's under the same id). Not by
    their root: a batch's ticket's children have the batch's run as theirs."""
    known = set(ticket.child_runs)
    found: list[tuple[str, str]] = []
    # From every run known, the ticket's and its children's (deleted already, perhaps: their
    # own children are still listed under them), then from each one found, until none is new.
    parents = [*ticket.runs, *(run_id for _, run_id in ticket.child_runs)]
    asked: set[str] = set()
    for _ in range(MAX_DEPTH):
        parents = [run_id for run_id in dict.fromkeys(parents) if run_id not in asked]
        if not parents:
            break
        asked.update(parents)
        runs = ", ".join(f"'{run_id}'" for run_id in parents)
        children = [
            (e.id, e.run_id) async for e in client.list_workflows(f"ParentRunId IN ({runs})")
        ]
        new = [child for child in children if child not in known and child not in found]
        found += new
        parents = [run_id for _, run_id in new]
    return found


def _take(ticket: ErasedTicket, runs: list[tuple[str, str]]) -> None:
    ticket.child_runs += runs
    ticket.children = list(dict.fromkeys([*ticket.children, *(wid for wid, _ in runs)]))


async def _runs_left(client: Client, ticket: ErasedTicket) -> str | None:
    """Why the ticket is not all gone when a run of its id that this erasure did not find is
    listed (started meanwhile: a redrive, a resubmission through the API): it has the
    customer's text and no fence, and the next erase finds it. Such a run (or one that could
    not be looked for) joins the ticket's ``listed_runs``: the id is then shared, and its stored
    payloads, which the store keeps by workflow id, are left to ``gc-payloads`` (erased, the
    new run failed on PayloadMissing; a review, 2026-12-07)."""
    query = f"WorkflowId = '{ticket.workflow_id}'"
    listed = {*ticket.runs, *ticket.listed_runs}
    try:
        left = [e.run_id async for e in client.list_workflows(query) if e.run_id not in listed]
    except RPCError as err:
        ticket.listed_runs.append(UNCHECKED_RUN)
        return f"{ticket.workflow_id}: could not check for runs started meanwhile ({err.message})"
    if not left:
        return None
    ticket.listed_runs.extend(left)
    return (
        f"{ticket.workflow_id}: {len(left)} run(s) of it started during the erasure (a redrive, "
        "a resubmission); run erase again to erase them"
    )
