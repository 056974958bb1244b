"""`serve` (the HTTP API and review console) and `token create` (an API token and its hash)."""

import argparse
import contextlib
from dataclasses import replace
from pathlib import Path

from temporalio.runtime import Runtime

from api.accounts import (
    ID_PREFIX_PATTERN,
    NAME_PATTERN,
    Role,
    TokenRegistry,
    TokensFileError,
    append_token,
    new_token,
    token_entry,
    token_hash,
)
from api.settings import ApiSettings, ApiSettingsError
from shared import telemetry
from shared.data_converter import describe_key_ring
from shared.encryption.keyring import load_key_ring
from shared.metrics import metrics_runtime_from_env
from shared.settings import ConfigError
from starter import render
from starter.arguments import port_number, role_argument
from starter.connection import open_client, refuse_plaintext_beside_encrypted
from starter.errors import EXIT_OK, CliError, ServerUnreachable, UsageError


async def cmd_serve(args: argparse.Namespace) -> int:
    from api.server import CannotListen, build_server, listening_socket

    try:
        settings = ApiSettings.from_env()
    except ApiSettingsError as err:
        raise CliError(str(err)) from None
    settings = replace(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        tokens_file=Path(args.tokens_file) if args.tokens_file else settings.tokens_file,
    )
    if settings.tokens_file is None:
        raise CliError(
            "no API tokens: set TICKETS_API_TOKENS_FILE (or --tokens-file) to a file made with "
            "`python -m starter token create NAME --role review --append FILE`"
        )
    try:
        tokens = TokenRegistry.load(settings.tokens_file)
    except TokensFileError as err:
        raise CliError(str(err)) from None
    if not tokens.accounts:
        raise CliError(f"{settings.tokens_file}: holds no tokens; nobody could use the API")
    try:
        ring = load_key_ring()  # the ring the API's client will use: said before it serves
        # Before any client: the API's Temporal client records to it too.
        runtime, metrics_address = metrics_runtime_from_env()
    except ConfigError as err:
        raise CliError(str(err)) from None
    if runtime is not None:
        Runtime.set_default(runtime, error_if_already_set=False)
    # Before the first request: the web framework decides at a request's start whether to
    # trace it, and the Temporal client (which would set the provider) connects on demand.
    telemetry.tracer_provider()
    if ring is None:
        # Intake would store tickets readable beside the workers' encrypted ones. A server not
        # answering yet is not checked: the API starts without one and says so on /readyz.
        with contextlib.suppress(ServerUnreachable):
            await refuse_plaintext_beside_encrypted(await open_client())
    try:
        sock = listening_socket(settings.host, settings.port)
    except CannotListen as err:
        raise CliError(str(err)) from None
    render.console(stderr=True).print(
        f"API on http://{settings.host}:{settings.port} (OpenAPI at /openapi.json"
        + (", browsable at /docs with internet access" if settings.docs else "")
        + "; console at /console), "
        f"{len(tokens.accounts)} token(s) from {settings.tokens_file}; "
        f"{describe_key_ring(ring)}"
        + (f"; metrics (Prometheus) at http://{metrics_address}/metrics" if runtime else "")
    )
    meter = runtime.metric_meter if runtime is not None else None
    with sock:
        await build_server(settings, tokens, meter).serve(sockets=[sock])
    return EXIT_OK


def cmd_token_create(args: argparse.Namespace) -> int:
    if not NAME_PATTERN.match(args.name):
        # The name as given, cut short: a 100,000-character one was echoed whole.
        extra = f" ({len(args.name):,} characters)" if len(args.name) > 80 else ""
        shown = repr(args.name[:80]) + extra
        raise UsageError(
            f"invalid name {shown}: 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    roles = sorted(set(args.role or [Role.REVIEW]))
    prefix = args.id_prefix
    if prefix is not None and not ID_PREFIX_PATTERN.match(prefix):
        raise UsageError(
            f"invalid --id-prefix {prefix[:40]!r}: the start of a ticket id, 1-32 letters, "
            "digits, '.', '_' or '-', starting with a letter or digit"
        )
    token = new_token()
    entry = token_entry(args.name, roles, token, prefix)
    if args.append:
        path = Path(args.append)
        if path.exists():
            try:
                taken = {a.name for a in TokenRegistry.load(path).accounts}
            except TokensFileError as err:
                raise CliError(str(err)) from None
            if args.name in taken:
                raise CliError(f"{path}: already has a token named {args.name}")
        try:
            append_token(path, args.name, roles, token, prefix)
        except TokensFileError as err:
            raise CliError(str(err)) from None
    if args.json:
        made = {"name": args.name, "roles": roles, "token": token, "sha256": token_hash(token)}
        render.print_json(made | ({"id_prefix": prefix} if prefix is not None else {}))
        return EXIT_OK
    ids = f"; ids of its own starting with {prefix}" if prefix is not None else ""
    print(f"token for {args.name} (roles: {', '.join(roles)}{ids}); shown only this once:\n")
    print(f"  {token}\n")
    if args.append:
        print(f"added to {args.append}; the API reads it when it starts.")
    else:
        print("add this to the tokens file (TICKETS_API_TOKENS_FILE):\n")
        print(entry)
    return EXIT_OK


async def cmd_token(args: argparse.Namespace) -> int:
    return cmd_token_create(args)


def add_parsers(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser
) -> None:
    # No --json: a server, with its own log (it was accepted and ignored).
    p = sub.add_parser("serve", help="the HTTP API and review console (uvicorn, one process)")
    p.add_argument("--host", help="address to listen on (TICKETS_API_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=port_number, help="port (TICKETS_API_PORT, default 8480)")
    p.add_argument("--tokens-file", help="API tokens (TICKETS_API_TOKENS_FILE)")
    p.set_defaults(handler=cmd_serve)

    # --json on `create` only: given on `token` too, the subcommand's own default (False)
    # overwrote `token --json create`'s, and the one output holding a token came as text.
    p = sub.add_parser("token", help="API tokens for the HTTP API")
    actions = p.add_subparsers(dest="token_command", required=True)
    create = actions.add_parser(
        "create", parents=[common], help="a new token: prints it once, and its hash line"
    )
    create.add_argument("name", help="who holds it: the reviewer name recorded on reviews")
    create.add_argument(
        "--role",
        action="append",
        type=role_argument,
        help="submit, read, review or admin (repeatable; default review)",
    )
    create.add_argument(
        "--id-prefix",
        metavar="PREFIX",
        help="tickets this token submits with an id of their own must start with PREFIX "
        "(e.g. HD-): a leaked token cannot take another source's ids",
    )
    create.add_argument("--append", metavar="FILE", help="append the entry to this tokens file")
    create.set_defaults(handler=cmd_token)
