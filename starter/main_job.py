"""`python -m starter run` (what `make run` does): server, worker, the sample tickets, the report.

It uses a Temporal server that already answers at the configured address, or starts the embedded
one; it always starts its own worker process; it submits the tickets, waits until each one rests
(completed, failed, rejected or awaiting a person), prints them and the report, and stops what it
started. It reviews nothing: tickets that need a person stay waiting for one.
"""

import argparse
import asyncio
import contextlib
import os
import signal
from pathlib import Path

from rich.console import Console
from temporalio.client import Client
from temporalio.service import RPCError

from activities.delivery.bounded import uncut
from policy.transitions import FAILED_STATES, SETTLED_STATES
from shared import operations as ops
from shared import report as reports
from shared import settings
from shared import ticket_listing as listing
from shared.encryption.keyring import ensure_local_key_file
from shared.metrics import METRICS_ADDRESS_ENV
from shared.temporal_client import MAX_PORT, connection_settings
from shared.view import TicketView
from shared.waiting import wait_settled
from starter import render
from starter.codec_process import CodecServerProcess
from starter.connection import open_client
from starter.embedded import EmbeddedServer, port_in_use, server_answers
from starter.errors import EXIT_OK, EXIT_PARTIAL, CliError, ServerUnreachable
from starter.inputs import InputError, read_jsonl
from starter.worker_process import WorkerProcess, start_with_metrics, worker_warnings

VISIBILITY_CATCH_UP = 10.0
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    try:
        return host, int(port)
    except ValueError:
        raise CliError(f"cannot read a port from the Temporal address {address!r}") from None


async def _wait_with_worker(
    client: Client,
    worker: WorkerProcess,
    ticket_ids: list[str],
    timeout: float,
    unreadable: dict[str, str],
) -> dict[str, TicketView]:
    waiting = asyncio.create_task(wait_settled(client, ticket_ids, timeout, unreadable=unreadable))
    try:
        while not waiting.done():
            await asyncio.wait({waiting}, timeout=1.0)
            if not waiting.done():
                worker.check_alive()
        return waiting.result()
    finally:
        # Also on Ctrl-C: a wait left running failed against the stopped server and printed
        # "Task exception was never retrieved" with its traceback.
        if not waiting.done():
            waiting.cancel()
            with contextlib.suppress(BaseException):
                await waiting


async def _report_when_visible(
    client: Client, views: dict[str, TicketView], this_run: set[str]
) -> reports.Report:
    """Visibility is updated asynchronously; give it a moment to show the states we just saw."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + VISIBILITY_CATCH_UP
    while True:
        read = await listing.report_tickets(client)
        seen = {t.ticket_id: t.state for t in read.tickets}
        if all(seen.get(i) == v.state for i, v in views.items()) or loop.time() > deadline:
            return reports.build_report(read.tickets, this_run, left_out=read.left_out)
        await asyncio.sleep(0.3)


async def _wait_for_stop(out: Console, worker: "WorkerProcess") -> None:
    """Until Ctrl-C or SIGTERM (which cancel this task), then carry on with the clean-up; or
    until the worker stops on its own (it said "keep running" over a worker that was gone)."""
    try:
        while not worker.stopped_as_asked():
            try:
                worker.check_alive()
            except CliError:
                out.print("The worker is gone; stopping the server ...")
                raise
            await asyncio.sleep(1.0)
        # The same Ctrl-C reached the worker first (a loaded machine): a stop, not a death.
        out.print("The worker stopped; stopping the server ...")
    except asyncio.CancelledError:
        out.print("Stopping the worker and the server ...")


async def _stop_everything(
    worker: "WorkerProcess", server: EmbeddedServer | None, codec: "CodecServerProcess | None"
) -> None:
    await worker.stop()
    if server is not None:
        await server.stop()
    if codec is not None:
        await codec.stop()


def _cancel_on_sigterm() -> None:
    # Ctrl-C already cancels the main task (asyncio.run); make SIGTERM (a supervisor, CI's
    # timeout, `kill`) and SIGHUP (the terminal closed) do the same, so the `finally` below
    # stops what this job started. A closed terminal ended the job at once, and the server,
    # in a process group of its own, ran on unowned with its port and database lock.
    task = asyncio.current_task()
    if task is not None:
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(stop, task.cancel)


async def _ensure_server(
    args: argparse.Namespace, out: Console
) -> tuple[EmbeddedServer | None, CodecServerProcess | None, str]:
    """The configured server if one answers, else a new embedded one (not yet started) with a
    codec server for its Web UI."""
    conn = connection_settings()
    if await server_answers(conn.address):
        out.print(f"Using the Temporal server that answers at {conn.describe()}")
        return None, None, conn.address
    host, port = _port(conn.address)
    if host not in LOCAL_HOSTS:
        raise ServerUnreachable(f"cannot reach the Temporal server at {conn.describe()}")
    ui_port = args.ui_port if args.ui_port is not None else port + 1000
    codec_port = args.codec_port if args.codec_port is not None else ui_port + 1
    if ui_port > MAX_PORT:
        raise CliError(
            f"the Web UI's port would be {ui_port} (the server's port + 1000), past {MAX_PORT}; "
            "choose one with --ui-port"
        )
    if codec_port > MAX_PORT:
        raise CliError(
            f"the codec server's port would be {codec_port} (the Web UI's port + 1), past "
            f"{MAX_PORT}; choose one with --codec-port"
        )
    # The Web UI as a browser on this machine may name it: either loopback spelling.
    ui_origins = [f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}"]
    codec = CodecServerProcess(settings.data_dir(), codec_port, ui_origins)
    server = EmbeddedServer(
        settings.data_dir(),
        host="127.0.0.1",
        port=port,
        ui_port=ui_port,
        codec_endpoint=codec.url,
    )
    for used, what, flag in (
        (server.ui_port, "the Web UI", "--ui-port"),
        (codec.port, "the codec server", "--codec-port"),
    ):
        if port_in_use(used):
            raise CliError(
                f"port {used} ({what}) is in use by another program; choose another with {flag}"
            )
    return server, codec, server.address


async def _refuse_a_server_of_other_keys(address: str) -> None:
    """A server that answers already and holds tickets this data directory's key ring cannot
    read (another checkout's `make run` on the same port): stopped here, before a key is made
    and before a worker joins that server's queues and fails every ticket task it takes."""
    os.environ["TEMPORAL_ADDRESS"] = address
    client = await open_client()
    if await listing.first_undecryptable_ticket(client, FOREIGN_CHECK_TICKETS) is not None:
        raise CliError(
            f"the Temporal server at {address} holds tickets encrypted with a key this data "
            f"directory ({settings.data_dir()}) does not have: another checkout's `make run`? "
            "Stop it, or set TEMPORAL_ADDRESS to another port for this one"
        )


# How many tickets of a server the job found running it reads before it joins that server.
FOREIGN_CHECK_TICKETS = 20


def _say_key_created(out: Console, path: Path) -> None:
    out.print(
        f"Created an encryption key for ticket payloads: {path} (owner-only). It keeps ticket "
        "text unreadable in the server's database, the payload store and their backups; it does "
        "not protect against someone who controls this machine. Keep a copy with care: without "
        "it these tickets cannot be read."
    )


async def run_main_job(args: argparse.Namespace) -> int:
    _cancel_on_sigterm()
    out = render.console() if not args.json else render.console(stderr=True)
    data_dir = settings.data_dir()
    tickets, errors = read_jsonl(Path(args.file))
    if not tickets:
        raise CliError(render.first_errors(errors) or f"no tickets in {args.file}")

    server, codec, address = await _ensure_server(args, out)
    if server is None:
        await _refuse_a_server_of_other_keys(address)
    worker = WorkerProcess(data_dir, address, os.environ)
    try:
        if server is not None:
            out.print(
                f"Starting the embedded Temporal server on {server.address} "
                f"(data: {server.db_path})"
            )
            await server.start()  # makes the key file, unless its tickets' file is missing
        # After the check above: a key made now is the one every new ticket is encrypted with.
        if created := ensure_local_key_file() or (server and server.created_key_file):
            _say_key_created(out, created)
        if codec is not None:
            await codec.start()
            out.print(f"Codec server for the Web UI: {codec.url} (log: {codec.log_path})")
        if server is not None:
            out.print(f"Temporal Web UI: {server.ui_url}")
        out.print(f"Starting a worker (log: {worker.log_path})")
        metrics_address = await start_with_metrics(worker, os.environ.get(METRICS_ADDRESS_ENV))
        # Its warnings (a key it could not check, an unpriced model, an endpoint no agent uses)
        # went only to its log, and the tickets then failed or cost $0 without a reason here.
        for warning in worker_warnings(worker.output()):
            out.print(render.line(("warning", "yellow"), f" (worker) {warning}"))
        out.print(f"Worker metrics (Prometheus): http://{metrics_address}/metrics")
        os.environ["TEMPORAL_ADDRESS"] = address
        client = await open_client()
        results = await ops.submit_each(client, [p.ticket for p in tickets])
        refused = next((r for r in results if isinstance(r, Exception)), None)
        if refused is not None and not any(isinstance(r, ops.SubmitOutcome) for r in results):
            raise refused  # nothing went: the server's answer
        submitted = [r for r in results if isinstance(r, ops.SubmitOutcome)]
        # A start the server refused is that ticket's error, by its line; the others went.
        errors = [
            *errors,
            *(
                InputError(
                    p.source,
                    p.line,
                    f"{p.ticket.ticket_id} was not started: "
                    f"{r.message if isinstance(r, RPCError) else r}; run again to submit it",
                )
                for r, p in zip(results, tickets, strict=True)
                if isinstance(r, Exception)
            ),
        ]
        # An id an earlier ticket holds with other content: this file's ticket was not started,
        # and the one on the server is not this run's to show.
        conflicts = [o for o in submitted if o.conflict]
        outcomes = [o for o in submitted if not o.conflict]
        new = sum(o.started for o in outcomes)
        out.print(
            f"Submitted {new} ticket(s) from {args.file}; "
            f"{len(outcomes) - new} were already on the "
            f"server and are not processed again; {len(errors)} input error(s)"
        )
        render.print_input_errors(errors, out, "  ")
        for o in conflicts:
            out.print(
                render.line(
                    "  ",
                    ("conflict", "red"),
                    f" {o.ticket_id}: an earlier ticket on this server has this id with another "
                    "subject, body or customer; this one was NOT submitted",
                )
            )
        ids = [o.ticket_id for o in outcomes]
        # A ticket that cannot be read (its key retired too early, a worker failing its
        # query) is named below; the others are shown and reported.
        unreadable: dict[str, str] = {}
        views = await _wait_with_worker(client, worker, ids, args.timeout, unreadable)
        ordered = [views[i] for i in ids if i in views]
        report = await _report_when_visible(
            client, views, {o.ticket_id for o in outcomes if o.started}
        )
        failed = [v.ticket_id for v in ordered if v.state in FAILED_STATES]
        if args.json:
            render.print_json(
                {
                    "tickets": ordered,
                    "report": report,
                    "failed": failed,
                    "errors": render.input_errors_json(errors),
                }
            )
        else:
            render.console().print(render.tickets_table(ordered, f"Tickets from {args.file}"))
            render.print_report(report)
        if unreadable:
            # Undecryptable here (a key retired too early), or a worker failing the query.
            first = next(iter(unreadable.values()))
            said = f"{len(unreadable)} ticket(s) of this file could not be read: {first}"
            out.print(render.line((said, "yellow")))
        unsettled = len(ids) - len(unreadable) - sum(v.state in SETTLED_STATES for v in ordered)
        if unsettled:
            late = f"{unsettled} ticket(s) still in progress after {args.timeout:.0f}s"
            out.print(render.line((late, "yellow")))
        if failed:
            said = f"{len(failed)} ticket(s) failed (the reason is in the table): "
            out.print(render.line((said + render.some_ids(failed), "yellow")))
        out.print(
            "Review waiting tickets with `python -m starter review ID --approve` "
            "(or --edit FILE / --rework NOTE / --reject REASON)."
        )
        if args.keep_running:
            ui = server.ui_url if server else "your server's Web UI"
            out.print(f"Server and worker keep running for inspection ({ui}); Ctrl-C to stop.")
            await _wait_for_stop(out, worker)
    finally:
        # Whole, also when the signal that stopped the worker cancels this task only now.
        await uncut(_stop_everything(worker, server, codec))
    partial = errors or unsettled or conflicts or unreadable or report.unreadable or failed
    return EXIT_PARTIAL if partial else EXIT_OK
