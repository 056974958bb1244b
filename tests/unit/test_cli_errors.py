"""Whatever a command raises, the command line prints one sentence and exits 1: the SDK's errors,
the payload store's, the configuration's, and anything unexpected. Each error is raised by the
command itself, in-process, through the real entry point (``starter.cli.main``)."""

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from shared import operations as ops
from shared.encryption.codec import PayloadDecryptionError, UnknownEncryptionKey
from shared.payload_store import PayloadStoreError
from shared.search_attribute_setup import SearchAttributeSetupError
from shared.settings import ConfigError
from shared.temporal_client import ClientConfigError, connection_settings
from starter import cli, inputs, submit_command, ticket_commands
from starter.errors import DEBUG_VARIABLE, EXIT_PARTIAL, CliError
from tests.support.ticket_lines import good, jsonl

CASES: list[tuple[BaseException, str]] = [
    (
        # The sentence says which key to add: no guess after it.
        UnknownEncryptionKey("a payload is encrypted with key 'k1'; add that key"),
        "error: a payload could not be decrypted: a payload is encrypted with key 'k1'; add that "
        "key",
    ),
    (
        PayloadDecryptionError("a payload encrypted with key 'k1' does not authenticate"),
        "error: a payload could not be decrypted: a payload encrypted with key 'k1' does not "
        "authenticate (is this process using the same encryption keys as the worker? "
        "docs/privacy.md)",
    ),
    (
        WorkflowQueryFailedError("Query handler for 'status' failed: boom"),
        "error: the worker could not answer the query: Query handler for 'status' failed: boom "
        "(see the worker's log)",
    ),
    (
        WorkflowQueryRejectedError(WorkflowExecutionStatus.FAILED),
        "error: the workflow no longer answers queries in its current state",
    ),
    (
        PayloadStoreError("payload ab12 is not in /data/payloads: is this process using the same"),
        "error: a payload kept outside the history could not be read: payload ab12 is not in "
        "/data/payloads: is this process using the same",
    ),
    (
        ConfigError("config/pipeline.toml:12: budget.max_tokens: Input should be a valid integer"),
        "error: configuration error: config/pipeline.toml:12: budget.max_tokens: Input should be a "
        "valid integer",
    ),
    (
        ClientConfigError("the Temporal connection configuration cannot be used: Profile 'x'"),
        "error: configuration error: the Temporal connection configuration cannot be used: "
        "Profile 'x'",
    ),
    (
        SearchAttributeSetupError("search attributes TicketState are missing and could not be"),
        "error: search attributes TicketState are missing and could not be",
    ),
    (
        RPCError("Namespace nope is not found.", RPCStatusCode.NOT_FOUND, b""),
        "error: the Temporal server answered: Namespace nope is not found.",
    ),
    (
        RPCError("Request unauthorized.", RPCStatusCode.PERMISSION_DENIED, b""),
        "error: the Temporal server refused the request (permission_denied): Request "
        "unauthorized.; check TEMPORAL_API_KEY or the TLS settings",
    ),
    (
        RPCError(
            "Namespace default has no mapping defined for search attribute TicketState",
            RPCStatusCode.INVALID_ARGUMENT,
            b"",
        ),
        "error: the server does not know the ticket search attributes yet (Namespace default has "
        "no mapping defined for search attribute TicketState); start `python -m worker` once, or "
        "submit a ticket: both register them",
    ),
    (
        RPCTimeoutOrCancelledError(),
        "error: the Temporal server did not answer in time; try again",
    ),
    # A server that stopped answering (SIGSTOP) mid-wait: "answered: Timeout expired" before.
    (
        RPCError("Timeout expired", RPCStatusCode.CANCELLED, b""),
        "error: the Temporal server did not answer in time: Timeout expired",
    ),
    (
        WorkflowFailureError(cause=ApplicationError("the planner's plan was invalid twice")),
        "error: the workflow failed: the planner's plan was invalid twice",
    ),
    (
        WorkflowUpdateFailedError(ApplicationError("this review is for draft revision 9")),
        "error: the workflow refused the request: this review is for draft revision 9",
    ),
    (
        FileNotFoundError(2, "No such file or directory", "edited.txt"),
        "error: edited.txt: No such file or directory",
    ),
    (
        RuntimeError("something\nnobody expected"),
        f"error: unexpected RuntimeError: something nobody expected (set {DEBUG_VARIABLE}=1 for "
        "the stack trace, and please report it)",
    ),
]


def raising(err: BaseException) -> Callable[..., object]:
    async def command(args: object) -> int:
        raise err

    return command


@pytest.mark.parametrize(("err", "sentence"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_every_error_a_command_raises_becomes_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    err: BaseException,
    sentence: str,
) -> None:
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    monkeypatch.setattr(ticket_commands, "cmd_report", raising(err))

    code = cli.main(["report"])

    out, errors = capsys.readouterr()
    assert code == 1
    assert errors == sentence + "\n"
    assert out == ""


def test_with_the_debug_variable_set_an_unexpected_error_shows_its_stack_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DEBUG_VARIABLE, "1")
    monkeypatch.setattr(ticket_commands, "cmd_report", raising(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["report"])


@pytest.mark.parametrize(
    ("variables", "sentence"),
    [
        pytest.param(
            {"TEMPORAL_CONFIG_FILE": "{tmp}/good.toml", "TEMPORAL_PROFILE": "staging"},
            "error: configuration error: the Temporal connection configuration cannot be used: "
            "{tmp}/good.toml: Profile 'staging' not found",
            id="unknown-profile",
        ),
        # The SDK's own refusal read "unexpected ValueError: invalid target URL".
        pytest.param(
            {"TEMPORAL_ADDRESS": "127.0.0.1:70000"},
            "error: configuration error: the Temporal address '127.0.0.1:70000' names no port: "
            "'70000' is not from 1 to 65535",
            id="address-port-out-of-range",
        ),
        pytest.param(
            {"TEMPORAL_TLS_CLIENT_CERT_PATH": "{tmp}/missing.pem"},
            "error: configuration error: the Temporal connection configuration cannot be used: "
            "{tmp}/missing.pem: No such file or directory",
            id="certificate-file-missing",
        ),
        # Both passed --check-config: the SDK refused them only as the worker connected (a
        # traceback, exit 1), or took the swapped pair for a server it could not reach.
        pytest.param(
            {"TEMPORAL_TLS_CLIENT_CERT_PATH": "{tmp}/cert.pem"},
            "error: configuration error: the Temporal connection configuration cannot be used: "
            "a client certificate without its key: mTLS needs both, "
            "TEMPORAL_TLS_CLIENT_CERT_PATH (or _DATA) and TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA), "
            "or a profile's",
            id="certificate-without-key",
        ),
        pytest.param(
            {
                "TEMPORAL_TLS_CLIENT_CERT_PATH": "{tmp}/key.pem",
                "TEMPORAL_TLS_CLIENT_KEY_PATH": "{tmp}/cert.pem",
            },
            "error: configuration error: the Temporal connection configuration cannot be used: "
            "the client certificate and key are swapped: "
            "TEMPORAL_TLS_CLIENT_CERT_PATH (or _DATA) and TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA), "
            "or a profile's",
            id="certificate-and-key-swapped",
        ),
        pytest.param(
            {"TICKETS_PAYLOAD_OFFLOAD_BYTES": "lots"},
            "error: TICKETS_PAYLOAD_OFFLOAD_BYTES must be a whole number, got 'lots'",
            id="payload-threshold-not-a-number",
        ),
    ],
)
def test_client_configuration_that_cannot_be_used_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    variables: dict[str, str],
    sentence: str,
) -> None:
    # The real client factory reads the real environment; nothing is contacted.
    (tmp_path / "good.toml").write_text('[profile.default]\naddress = "127.0.0.1:1"\n')
    # Their markers only: the check reads no further.
    (tmp_path / "cert.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "key.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    )
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))

    code = cli.main(["status", "T-1"])

    assert code == 1
    assert capsys.readouterr().err == sentence.format(tmp=tmp_path) + "\n"


@pytest.mark.parametrize(
    "profile",
    [
        "[profile.default]\napi_key = tka_SECRET_unquoted\n",
        '[profile.default]\napi_key = "tka_SECRET_1"\napi_key = "tka_SECRET_2"\n',
        '[profile.default]\napi_key = "tka_SECRET_open\n',
        '[profile.default]\ntls = "tka_SECRET_as_a_table"\n',
    ],
    ids=["unquoted", "duplicate-key", "unclosed-string", "wrong-type"],
)
def test_a_profile_file_that_does_not_parse_is_named_without_quoting_its_lines(
    tmp_path: Path, profile: str
) -> None:
    # The TOML parser quotes the offending line: in a profile file, that is an API key.
    path = tmp_path / "temporal.toml"
    path.write_text(profile)
    with pytest.raises(ClientConfigError) as refused:
        connection_settings({"TEMPORAL_CONFIG_FILE": str(path)})

    message = str(refused.value)
    assert "SECRET" not in message
    assert f"{path}: " in message


@pytest.mark.parametrize(
    ("argv", "address", "sentence"),
    [
        (
            ["--ui-port", "65535"],
            "127.0.0.1:1",
            "the codec server's port would be 65536 (the Web UI's port + 1), past 65535; "
            "choose one with --codec-port",
        ),
        (
            [],
            "127.0.0.1:65000",
            "the Web UI's port would be 66000 (the server's port + 1000), past 65535; "
            "choose one with --ui-port",
        ),
    ],
    ids=["codec-after-the-last-ui-port", "ui-after-a-high-server-port"],
)
def test_run_s_derived_ports_past_the_last_one_are_named_with_the_flag_to_set(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    address: str,
    sentence: str,
) -> None:
    # Nothing listens on either address: `run` would start an embedded server there. Both
    # were "unexpected OverflowError: connect_ex(): port must be 0-65535".
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)

    code = cli.main(["run", *argv])

    assert code == 1
    assert capsys.readouterr().err.strip().endswith(sentence)


def test_submit_says_the_file_s_errors_when_the_server_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Only "cannot reach the Temporal server" was said: line 2's error never appeared.
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text('{"customer_id": "C-1", "subject": "a", "body": "b"}\n{bad json\n')
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")  # nothing listens there

    code = cli.main(["submit", str(tickets)])

    errors = capsys.readouterr().err
    assert code == 1
    assert f"{tickets}:2: not valid JSON" in errors
    assert errors.index(f"{tickets}:2:") < errors.index("cannot reach the Temporal server")


def test_submit_names_a_ticket_id_given_in_two_files_by_its_first_place(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Both were started at once, and one of them was refused by the server as a conflict.
    def ticket(ticket_id: str, body: str) -> str:
        fields = {"ticket_id": ticket_id, "customer_id": "C-1", "subject": "s", "body": body}
        return json.dumps(fields) + "\n"

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(ticket("T-1", "one"))
    second.write_text(ticket("T-2", "two") + ticket("T-1", "other words"))
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")  # nothing listens there

    cli.main(["submit", str(first), str(second)])

    errors = capsys.readouterr().err
    assert f"{second}:2: ticket T-1 already appears on {first}:1" in errors
    assert f"{first}:1" not in errors.replace(f"appears on {first}:1", "")


def test_submit_says_the_file_s_errors_when_the_server_refuses_after_connecting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Only an unreachable server printed them first: a server that refused an unencrypted
    # client (or a start that failed) said its error alone, line 2's never appeared.
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text('{"customer_id": "C-1", "subject": "a", "body": "b"}\n{bad json\n')
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)

    async def connected() -> object:
        return object()

    async def refused(client: object) -> None:
        raise CliError("this server holds encrypted payloads and this client has no key ring")

    monkeypatch.setattr(submit_command, "open_client", connected)
    monkeypatch.setattr(submit_command, "warn_if_unencrypted", refused)

    code = cli.main(["submit", str(tickets)])

    errors = capsys.readouterr().err
    assert code == 1
    assert errors.index(f"{tickets}:2: not valid JSON") < errors.index("has no key ring")


def test_one_submit_takes_at_most_one_file_s_worth_of_tickets_across_files(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Each file was limited, the command not: twenty full files held two million tickets.
    monkeypatch.setattr(inputs, "MAX_ITEMS_PER_FILE", 3)
    files = []
    for n in range(3):
        path = tmp_path / f"part-{n}.jsonl"
        path.write_bytes(jsonl(*(good(f"T-{n}-{i}") for i in range(2))))
        files.append(path)
    args = argparse.Namespace(files=[str(p) for p in files])
    for flag in submit_command.TICKET_FLAGS.values():
        setattr(args, flag.removeprefix("--").replace("-", "_"), None)

    tickets, errors = submit_command._tickets_from_args(args)

    assert [t.ticket.ticket_id for t in tickets] == ["T-0-0", "T-0-1", "T-1-0"]
    said = sorted(str(e) for e in errors)
    assert len(said) == 2
    assert said[0].startswith(f"{files[1]}:2: not submitted from here on: one command submits")
    assert said[1].startswith(f"{files[2]}: not read: the files before it hold 3 tickets")


def test_a_loop_of_links_among_the_files_is_named_and_the_other_files_still_go(
    tmp_path: Path,
) -> None:
    """Resolving `loop` raised, and the whole command stopped with "unexpected RuntimeError"."""
    good_file, loop = tmp_path / "good.jsonl", tmp_path / "loop"
    good_file.write_bytes(jsonl(good("T-1")))
    loop.symlink_to(loop)
    args = argparse.Namespace(files=[str(good_file), str(loop)])
    for flag in submit_command.TICKET_FLAGS.values():
        setattr(args, flag.removeprefix("--").replace("-", "_"), None)

    tickets, errors = submit_command._tickets_from_args(args)

    assert [t.ticket.ticket_id for t in tickets] == ["T-1"]
    assert [str(e) for e in errors] == [
        f"{loop}: cannot read the file: Too many levels of symbolic links"
    ]


def test_a_file_given_twice_is_read_once_and_repeats_across_files_are_listed_up_to_the_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `submit a.jsonl a.jsonl ...` (a glob that takes in a day already given) listed each of its
    # tickets again for every repeat: 950,000 errors and 416 MiB for a file named 20 times.
    monkeypatch.setattr(inputs, "MAX_BAD_LINES", 2)
    first, again = tmp_path / "day1.jsonl", tmp_path / "day1-copy.jsonl"
    first.write_bytes(jsonl(*(good(f"T-{i}") for i in range(5))))
    again.write_bytes(jsonl(*(good(f"T-{i}") for i in range(5))))
    args = argparse.Namespace(files=[str(first)] * 20 + [str(again), str(first)])
    for flag in submit_command.TICKET_FLAGS.values():
        setattr(args, flag.removeprefix("--").replace("-", "_"), None)

    tickets, errors = submit_command._tickets_from_args(args)

    assert [t.ticket.ticket_id for t in tickets] == [f"T-{i}" for i in range(5)]
    said = [str(e) for e in errors]
    assert said.count(f"{first}: given twice: read once") == 20
    assert [s for s in said if "already appears" in s] == [
        f"{again}:1: ticket T-0 already appears on {first}:1",
        f"{again}:2: ticket T-1 already appears on {first}:2",
    ]
    assert (
        said[-1]
        == f"{again}: 3 more tickets an earlier file gave were left out besides the 2 listed"
    )


def test_a_start_the_server_refuses_is_that_tickets_error_and_the_others_are_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The whole command once ended on the first refused start ("the Temporal server answered:
    # namespace rate limit exceeded", exit 1): the four tickets it had started went unlisted
    # (their derived ids never shown) and the refused one was named by neither file nor line.
    tickets = tmp_path / "t.jsonl"
    tickets.write_text(
        "".join(
            json.dumps({"ticket_id": f"T-{i}", "subject": "s", "body": "b"}) + "\n"
            for i in range(1, 6)
        )
    )
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)

    async def connected() -> object:
        return object()

    async def nothing(client: object) -> None:
        return None

    async def start(client: object, ticket: Any, **_: Any) -> ops.SubmitOutcome:
        if ticket.ticket_id == "T-3":
            raise RPCError("namespace rate limit exceeded", RPCStatusCode.RESOURCE_EXHAUSTED, b"")
        return ops.SubmitOutcome(
            ticket_id=ticket.ticket_id, workflow_id=f"ticket-{ticket.ticket_id}", started=True
        )

    monkeypatch.setattr(submit_command, "open_client", connected)
    monkeypatch.setattr(submit_command, "warn_if_unencrypted", nothing)
    monkeypatch.setattr(ops, "start_ticket", start)

    code = cli.main(["submit", str(tickets), "--json"])

    out = json.loads(capsys.readouterr().out)
    assert code == EXIT_PARTIAL
    assert [o["ticket_id"] for o in out["submitted"]] == ["T-1", "T-2", "T-4", "T-5"]
    [error] = out["errors"]
    assert (error["source"], error["line"]) == (str(tickets), 3)
    assert "T-3 was not started: namespace rate limit exceeded" in error["message"]


def test_empty_temporal_connection_variables_are_unset() -> None:
    # A compose file passes an optional setting it was not given as empty: the SDK took an empty
    # TEMPORAL_TLS or TEMPORAL_API_KEY for TLS on (the worker then could not reach the server),
    # and an empty certificate path for the current directory.
    empty = {
        name: ""
        for name in (
            "TEMPORAL_ADDRESS",
            "TEMPORAL_TLS",
            "TEMPORAL_API_KEY",
            "TEMPORAL_TLS_SERVER_NAME",
            "TEMPORAL_TLS_CLIENT_CERT_PATH",
            "TEMPORAL_TLS_CLIENT_KEY_PATH",
        )
    }

    settings = connection_settings(empty)

    assert (settings.tls, settings.has_api_key) == (False, False)
    assert settings.describe() == "127.0.0.1:7233, namespace default"


def test_an_empty_grpc_header_variable_still_removes_a_profile_s_header(tmp_path: Path) -> None:
    # Empty as unset is for the connection's settings; for a gRPC header the SDK reads an
    # empty value as "remove the profile's", which the filter above had undone.
    profile = tmp_path / "temporal.toml"
    profile.write_text(
        '[profile.default]\naddress = "127.0.0.1:1"\n[profile.default.grpc_meta]\nx-foo = "bar"\n'
    )
    kept = connection_settings({"TEMPORAL_CONFIG_FILE": str(profile)})
    removed = connection_settings(
        {"TEMPORAL_CONFIG_FILE": str(profile), "TEMPORAL_GRPC_META_X_FOO": ""}
    )

    assert dict(kept.connect_kwargs.get("rpc_metadata") or {}) == {"x-foo": "bar"}
    assert "x-foo" not in dict(removed.connect_kwargs.get("rpc_metadata") or {})


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        # `run` stops the worker (and the embedded server) it started on its way out: "goes on
        # there" was untrue of it, and `status` then found no server (a review, 2026-12-07).
        (["run"], "interrupted: the worker this command started is stopped, and the embedded"),
        (["list"], "interrupted: what was already sent to the server goes on there"),
    ],
)
def test_an_interrupted_command_says_what_goes_on_and_what_stopped(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    said: str,
) -> None:
    from starter import cli, main_job, ticket_commands

    async def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(main_job, "run_main_job", interrupted)
    monkeypatch.setattr(ticket_commands, "cmd_list", interrupted)
    monkeypatch.setattr(cli.team_time, "team_zone", lambda: None)
    assert cli.main(argv) == 130
    assert capsys.readouterr().err.startswith(said)
