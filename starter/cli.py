"""python -m starter: submit tickets, watch them, review them, report on them.

Every command but the servers, serve and codec-server (each with its own log), takes --json for
scripts. Exit codes: 0 success, 1 error (one sentence on stderr), 2 a command line that does not
parse or does not make sense (options that do not go together: UsageError), 3 some input lines
were invalid (the valid ones were still submitted), tickets were still in progress when --wait
gave up or ended FAILED or DELIVERY_FAILED, or tickets could not be read here (a key missing),
130 interrupted (Ctrl-C: a run started goes on on the server).
"""

import argparse
import asyncio
import importlib.metadata
import sys
from collections.abc import Sequence

from codec_server import main as codec_server_main
from starter import api_commands, fanout, ops_commands, render, team_time, ticket_commands
from starter.arguments import customer_id_argument, email_argument, port_number, wait_seconds
from starter.errors import debugging, explain
from starter.spawn import left_behind_stopped
from starter.submit_command import DEFAULT_WAIT_SECONDS

# Commands that run until stopped: their log keeps every tracing problem.
SERVERS = ("serve", "codec-server")


async def cmd_erase(args: argparse.Namespace) -> int:
    from starter.erase_command import run_erase

    return await run_erase(args)


async def cmd_run(args: argparse.Namespace) -> int:
    from starter.main_job import run_main_job

    return await run_main_job(args)


def _version() -> str:
    """The installed project's version (``pip install -e .`` records it)."""
    try:
        return importlib.metadata.version("ticket-agents")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed: run from a checkout without pip install)"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")

    parser = argparse.ArgumentParser(
        prog="python -m starter",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    ticket_commands.add_parsers(sub, common)
    fanout.add_parsers(sub, common)

    p = sub.add_parser(
        "run", parents=[common], help="the main job: server, worker, sample tickets, report"
    )
    p.add_argument(
        "--file",
        default="samples/tickets.jsonl",
        help="tickets to submit (default: the bundled samples)",
    )
    p.add_argument(
        "--ui-port",
        type=port_number,
        default=None,
        help="Web UI port of the embedded server (default: its gRPC port + 1000, so 8233)",
    )
    p.add_argument(
        "--codec-port",
        type=port_number,
        default=None,
        help="port of the codec server the Web UI decrypts through (default: Web UI port + 1)",
    )
    p.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the server and worker running for the Web UI until Ctrl-C",
    )
    p.add_argument(
        "--timeout",
        type=wait_seconds,
        default=DEFAULT_WAIT_SECONDS,
        help="seconds to wait for the tickets (default 300)",
    )
    p.set_defaults(handler=cmd_run)

    api_commands.add_parsers(sub, common)
    ops_commands.add_parsers(sub, common)
    p = sub.add_parser(
        "codec-server",
        help="serve Temporal's remote codec protocol so the Web UI shows tickets decrypted",
    )
    codec_server_main.add_arguments(p)
    # uvicorn runs its own event loop: this command is not a coroutine.
    p.set_defaults(handler=None, blocking=codec_server_main.run)

    p = sub.add_parser(
        "erase",
        parents=[common],
        help="erase one customer's tickets, deliveries and stored payloads (dry run by default)",
    )
    whose = p.add_mutually_exclusive_group(required=True)
    whose.add_argument(
        "--customer-id", type=customer_id_argument, help="the customer whose data goes"
    )
    whose.add_argument(
        "--email",
        type=email_argument,
        help="or the customer's e-mail address: tickets with that customer e-mail or customer id "
        "(in any case)",
    )
    p.add_argument(
        "--yes", action="store_true", help="erase for real (without it: only say what would go)"
    )
    p.set_defaults(handler=cmd_erase)
    return parser


# What an interrupted command says on stderr. `run` stops the worker it started (and the
# embedded server, if it started one) on its way out: "goes on there" was untrue of it.
INTERRUPTED: dict[str | None, str] = {
    None: "interrupted: what was already sent to the server goes on there; `status` or `list` "
    "shows where it got to, and the same command run again skips what was done",
    "run": "interrupted: the worker this command started is stopped, and the embedded server "
    "if it started one; what was sent is kept and goes on once a worker runs again (the same "
    "command run again skips what was done and waits for the rest)",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in SERVERS:
        from shared.telemetry_exit import quiet_tracing_problems

        quiet_tracing_problems()
    if args.handler is None:
        return int(args.blocking(args))
    try:
        # A zone this machine does not know is said before the command does anything.
        team_time.team_zone()
        # The embedded server a second Ctrl-C kept this command from stopping (spawn.py).
        with left_behind_stopped():
            return asyncio.run(args.handler(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Said, not only exited (a review: 130 with no word after minutes of starting tickets).
        print(INTERRUPTED.get(args.command, INTERRUPTED[None]), file=sys.stderr)
        return 130
    except Exception as err:
        # Every command's errors end here: one sentence, never a stack trace (unless asked).
        if debugging():
            raise
        message, code = explain(err)
        # It may quote a provider's or a model's words: shown, never obeyed by the terminal.
        print(f"error: {render.printable(message)}", file=sys.stderr)
        return code
