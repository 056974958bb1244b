"""``review``: a decision on a ticket awaiting review, from the command line (recorded as
``operator:NAME``), then watching the ticket act on it."""

import argparse
from pathlib import Path

from pydantic import ValidationError

from policy.transitions import FAILED_STATES
from shared import review_operations, waiting
from shared.bounded_read import TooLarge, read_text_at_most
from shared.review import (
    MAX_EDITED_CHARS,
    MAX_REVISION,
    OPERATOR_PREFIX,
    REVIEWER_NAME_LIMIT,
    ReviewAction,
    ReviewDecision,
    ReviewReceipt,
    as_operator,
    one_break,
    visible,
)
from shared.ticket_input import line_breaking_problem
from shared.view import TicketView
from starter import render, team_time
from starter.arguments import (
    chain_argument,
    moment_argument,
    positive_int_up_to,
    ticket_id_argument,
    wait_seconds,
)
from starter.connection import open_client
from starter.errors import EXIT_OK, EXIT_PARTIAL, CliError, UsageError, explain

# An edited reply's file: its characters' limit in UTF-8's widest bytes.
MAX_EDIT_FILE_BYTES = MAX_EDITED_CHARS * 4


def _decision(args: argparse.Namespace) -> ReviewDecision:
    # The CLI talks to Temporal with namespace access and a self-declared name: recorded as an
    # operator's, as the Web UI's signal is, never like a signed-in reviewer's (docs/api.md).
    if not visible(args.reviewer):
        # Blank, or only zero-width and formatting characters (a name nobody could read).
        raise UsageError("--reviewer needs a name (who decides, recorded as operator:NAME)")
    if "\x00" in args.reviewer or line_breaking_problem(args.reviewer) is not None:
        # A line break in it wrote a line of its own under the review's in `status` (a review,
        # 2026-12-07: "operator:ana" then "EVIL: approve applied"). Control characters and
        # line separators only: a no-break space or a zero-width non-joiner is a name's.
        raise UsageError(
            "--reviewer must be one line of printable characters (no line breaks or control "
            "characters)"
        )
    reviewer = as_operator(args.reviewer)
    if len(OPERATOR_PREFIX + args.reviewer.removeprefix(OPERATOR_PREFIX)) > REVIEWER_NAME_LIMIT:
        longest = REVIEWER_NAME_LIMIT - len(OPERATOR_PREFIX)
        raise UsageError(f"--reviewer is at most {longest} characters")
    fields: dict[str, object] = {
        "reviewer": reviewer,
        "revision": args.revision,
        "chain": args.chain,
        "waiting_since": args.waiting_since,
        "saw_no_draft": args.no_draft,
    }
    if args.no_draft and args.revision is not None:
        raise UsageError("--no-draft and --revision name different things you saw: give one")
    # "is not None": an empty --rework "" or --edit "" fell through to the rejection and was
    # refused as "a rejection needs a reason".
    if args.approve:
        fields["action"] = ReviewAction.APPROVE
    elif args.edit is not None:
        if not args.edit.strip():
            raise UsageError("--edit needs the name of the file that holds your reply")
        try:
            fields["edited_text"] = one_break(
                read_text_at_most(Path(args.edit), MAX_EDIT_FILE_BYTES)
            )
        except TooLarge:
            raise CliError(
                f"{args.edit} is larger than {MAX_EDIT_FILE_BYTES:,} bytes: an edited reply is at "
                f"most {MAX_EDITED_CHARS:,} characters"
            ) from None
        except UnicodeDecodeError as err:
            raise CliError(not_utf8(args.edit, err)) from None
        except OSError as err:
            said = err.strerror or str(err)
            raise CliError(f"cannot read the edited reply from {args.edit}: {said}") from None
        if not str(fields["edited_text"]).strip():
            raise CliError(f"{args.edit} holds no text: --edit sends the file's text as the reply")
        fields["action"] = ReviewAction.EDIT
    elif args.rework is not None:
        fields["action"], fields["notes"] = ReviewAction.REWORK, args.rework
    else:
        fields["action"], fields["reason"] = ReviewAction.REJECT, args.reject
    try:
        return ReviewDecision.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        # The flag or file the text came from, not the model's field ("notes: String should
        # have at most 4000 characters" for a --rework).
        flag = {
            "revision": "--revision",
            "chain": "--chain",
            "waiting_since": "--waiting-since",
            "reviewer": "--reviewer",
            "notes": "--rework",
            "reason": "--reject",
            "edited_text": f"--edit {args.edit}",
        }.get(field, field)
        given, limit = first.get("input"), (first.get("ctx") or {}).get("max_length")
        if first.get("type") == "string_too_long" and isinstance(given, str) and limit:
            size = "the file's text" if field == "edited_text" else "the text"
            message = f"{size} is {len(given):,} characters; the limit is {limit:,}"
        else:
            message = str(first["msg"]).removeprefix("Value error, ")
        raise UsageError(f"invalid review: {flag + ': ' if flag else ''}{message}") from None


def not_utf8(path: str, err: UnicodeDecodeError) -> str:
    """Which byte of the edit file is not UTF-8, as a ticket file's bad byte is named; a file
    saved as UTF-16 (Windows editors' "Unicode") says so."""
    byte = err.object[err.start : err.start + 1].hex()
    said = f"{path} is not UTF-8 text (byte 0x{byte} at offset {err.start:,})"
    if err.object[:2] in (b"\xff\xfe", b"\xfe\xff"):
        said += ": it is saved as UTF-16; save it as UTF-8"
    return said


async def cmd_review(args: argparse.Namespace) -> int:
    decision = _decision(args)
    client = await open_client()
    # Without --waiting-since, made in the wait the ticket is in now (refused if it waits
    # again before the decision arrives, and when a failed rework makes that ambiguous).
    receipt = await review_operations.submit_review(
        client, args.ticket_id, decision, current_wait=review_operations.CLI_WAIT_OPTION
    )
    # The review is accepted: whatever happens while we watch its effect, it stands.
    try:
        view: TicketView | None = await waiting.wait_review_applied(
            client, args.ticket_id, receipt, timeout=args.timeout
        )
    except Exception as err:
        # The review stands whatever went wrong here: a server restarting answered the status
        # read with an error, and the command said "error" and exited 1 for a review it had
        # made (one re-run with another decision).
        view = None
        message, _ = explain(err)
        render.console(stderr=True).print(
            f"warning: the review stands; its effect could not be read: {render.printable(message)}"
        )
    # The review applied, and the answer could not go out (refused, or the pipeline failed):
    # exit 3, as `submit --wait` for such a ticket (it said exit 0 and no reason).
    failed = view is not None and view.state in FAILED_STATES
    if args.json:
        render.print_json({"receipt": receipt, "ticket": view})
        return EXIT_PARTIAL if failed else EXIT_OK
    render.console().print(receipt_line(receipt, view))
    if view and view.state in ("COMPLETED", "DELIVERING", *FAILED_STATES):
        # How it went out (via the webhook, by e-mail): it said "delivered to ledger:..."
        # whatever the channel; or why it did not, or is still trying.
        render.console().print(render.outcome_text(view))
    return EXIT_PARTIAL if failed else EXIT_OK


def receipt_line(receipt: ReviewReceipt, view: TicketView | None) -> str:
    """What the review did, in one line: a retry of one applied before says so (it read as a
    new acceptance), and a ticket on another draft since (a rework's new drafts) names it."""
    state = ""
    if view is not None:
        state = f"; ticket is now {view.state}"
        if view.draft is not None and view.draft.revision != receipt.revision:
            state += f" with draft revision {view.draft.revision}"
    when = team_time.at(receipt.accepted_at, seconds=True)
    if receipt.repeated:
        return (
            f"{receipt.action} of ticket {receipt.ticket_id} (draft revision {receipt.revision}) "
            f"had already been accepted at {when}: nothing new was done{state}"
        )
    return (
        f"{receipt.action} accepted for ticket {receipt.ticket_id} "
        f"(draft revision {receipt.revision}){state}"
    )


def add_parser(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("review", parents=[common], help="decide on a ticket awaiting review")
    p.add_argument("ticket_id", type=ticket_id_argument)
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--approve", action="store_true", help="send the current draft")
    action.add_argument("--edit", metavar="FILE", help="send this file's text instead of the draft")
    action.add_argument("--rework", metavar="NOTE", help="send back to the resolver with this note")
    action.add_argument("--reject", metavar="REASON", help="close without sending anything")
    p.add_argument(
        "--revision",
        type=positive_int_up_to(MAX_REVISION),
        help="the draft revision you reviewed (refused if stale)",
    )
    p.add_argument(
        "--no-draft",
        action="store_true",
        help="you decided seeing no draft (status showed none): refused if one is written since",
    )
    p.add_argument(
        "--chain",
        type=chain_argument,
        help="the ticket's chain as `status` prints it: refused if the ticket was stopped and "
        "submitted again under its id since (its revisions count from 1 again)",
    )
    p.add_argument(
        "--waiting-since",
        metavar="TIME",
        type=moment_argument,
        help="when the wait for review you decided in began, as `status` shows it (needed for "
        "a --revision that came back from a failed rework)",
    )
    p.add_argument("--reviewer", default="cli", help="your name, for the log")
    p.add_argument(
        "--timeout",
        type=wait_seconds,
        default=60.0,
        help="seconds to watch the ticket act on the review (default 60)",
    )
    p.set_defaults(handler=cmd_review)
