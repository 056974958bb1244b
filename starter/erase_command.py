"""``python -m starter erase``'s command line: the customer it names, the run, and what it
prints (the erasure itself: starter/erase.py)."""

import argparse

from shared.stores.config import StoreConfig
from shared.stores.factory import build_stores
from starter import render
from starter.connection import open_client
from starter.erase import Customer, ErasureInterrupted, ErasureReport, erase_customer
from starter.errors import EXIT_OK, CliError


def print_report(report: ErasureReport) -> None:
    out = render.console()
    verb = "Erased" if report.erased else "Would erase"
    out.print(
        f"{verb} for "
        + (f"customer {report.customer_id}" if report.customer_id else f"address {report.email}")
        + f" ({report.tickets_scanned} ticket workflow(s) scanned):"
    )
    for t in report.tickets:
        extra = f" and {len(t.children)} child workflow(s)" if t.children else ""
        out.print(f"  ticket {t.ticket_id}: {len(t.runs)} run(s){extra}")
    if running := [t.ticket_id for t in report.tickets if t.running]:
        # Terminated as it was deleted; an activity already under way goes on until it finds
        # the ticket gone. The ledger was fenced first (no answer recorded or sent); a result
        # an agent call stores as it ends is gc-payloads' (its workflow is gone).
        said = (
            "was running: it records no answer any more (a send already begun may still go "
            "out), but an agent call under way as it went may still store its result: "
            "`gc-payloads --yes` deletes it (its workflow is gone)"
            if report.erased
            else "is running: erasing it terminates it"
        )
        for ticket_id in running:
            out.print(render.line("  ", ("running", "yellow"), f" ticket {ticket_id} {said}"))
    out.print(f"  {report.workflow_executions} workflow execution(s) in Temporal")
    out.print(f"  {len(report.ledger_rows)} delivery ledger row(s)")
    out.print(f"  {report.stored_payloads} stored payload(s)")
    for batch in report.batches_kept:
        if batch in report.batches_pending:
            waiting = len(report.batches_pending[batch])
            out.print(
                render.line(
                    "  ",
                    ("still running", "red"),
                    f" batch {batch}: it has yet to start {waiting} of this customer's "
                    "ticket(s), and would run them after an erasure; cancel it first",
                )
            )
            continue
        out.print(
            render.line(
                "  ",
                ("kept", "yellow"),
                f" batch {batch}: its input also holds other customers' tickets; it goes with "
                "the namespace's retention (or delete it when all may go)",
            )
        )
    for workflow_id in report.payloads_shared:
        out.print(
            render.line(
                "  ",
                ("kept", "yellow"),
                f" {workflow_id}'s stored payloads: another run under the id is not this "
                "customer's and shares them; `gc-payloads --yes` deletes this customer's once "
                "its runs are gone (no retained history refers to them; on a database, add "
                "--data-directory for the data directory's files)",
            )
        )
    for problem in report.unreadable:
        out.print(render.line("  ", ("could not read", "red"), f" {problem}"))
    for problem in report.failed:
        out.print(render.line("  ", ("not erased", "red"), f" {problem}"))
    if not report.erased:
        out.print("Nothing was erased: run again with --yes to erase.")


def _show(report: ErasureReport, as_json: bool) -> None:
    if as_json:
        render.print_json(report)
    else:
        print_report(report)


def customer_of(args: argparse.Namespace) -> Customer:
    if args.customer_id is not None:
        return Customer(customer_id=args.customer_id)
    return Customer(email=args.email)


async def run_erase(args: argparse.Namespace) -> int:
    customer = customer_of(args)
    stores_config = StoreConfig.from_env()
    # A host without the workers' ledger: an erasure made an empty one here and reported the
    # customer's answers gone while the workers' ledger kept them.
    if problem := stores_config.no_workers_ledger():
        raise CliError(problem)
    client = await open_client()
    # A dry run reads: it must not migrate the workers' database or ledger.
    async with build_stores(stores_config, migrates=args.yes) as stores:
        try:
            report = await erase_customer(client, stores, customer, really=args.yes)
        except ErasureInterrupted as stop:
            _show(stop.report, args.json)
            raise
    _show(report, args.json)
    if report.failed:
        raise CliError(
            f"{len(report.failed)} ticket(s) could not be erased (listed above); the rest were: "
            "run the same command again to erase them"
        )
    if report.unreadable:
        raise CliError(
            f"{len(report.unreadable)} ticket(s) could not be read, so the search may be "
            "incomplete (is a key missing from the key ring?)"
        )
    return EXIT_OK
