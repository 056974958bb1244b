"""Ticket text is private on a real dev server (SQLite file in a temporary folder), end to end:

- tickets whose subject and body carry a unique marker, one of them failing an activity with the
  marker in the failure message, leave the marker in none of the server's files, nor in the
  payload store, nor in ``temporal workflow show`` / ``describe`` without the codec; ``status``
  (with the key ring) and the CLI through the codec server show it;
- the codec server refuses an origin it does not know and a request without its token, and
  decodes for the Web UI's origin;
- the embedded server's Web UI, in real headless Chromium, shows a ticket's subject decrypted
  through the codec server;
- ``erase --customer-id`` removes one customer's tickets (and the orchestrator children of a
  complex one), ledger rows and stored payloads, and leaves another customer's alone.

The workers run in this process (the real worker code: offline agents on the tickets queue, and
the openai provider against the fake LLM server on a queue of its own); every client, worker and
CLI process finds its key in the data directory's key file, as with ``make run``.
"""

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.async_api import BrowserContext
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from policy.transitions import TicketState
from shared import names
from shared.data_converter import data_converter
from shared.stores.ledger import NewDelivery
from shared.stores.payloads_file import FilePayloadDriver
from shared.stores.sqlite_ledger import SqliteLedger
from shared.temporal_client import connect, connection_settings
from shared.view import TicketView
from starter.codec_process import CodecServerProcess
from starter.embedded import EmbeddedServer, temporal_cli
from tests.stores.conftest import delivery
from tests.support.browser import Screenshots, browser, browser_context, screenshots  # noqa: F401
from tests.support.fake_llm import FakeLLMServer, Recorded, Reply, good_answers
from tests.support.llm_pipeline import llm_pipeline, llm_setup
from tests.support.processes import environment, free_port, run_cli
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import real_pipeline

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
MARK = f"Zq{RUN}Marker"  # in the completed ticket's subject and body
FAIL_MARK = f"Fx{RUN}Failing"  # in the failing ticket, and in its activity's error message
CUSTOMER, OTHER_CUSTOMER = f"C-{RUN}", f"D-{RUN}"
TOKEN = f"codec-token-{RUN}-{uuid.uuid4().hex}"
OFFLOAD = "2000"  # small, so the payload store is used and can be checked too


@dataclass
class PrivateStack:
    server: EmbeddedServer
    codec: CodecServerProcess
    codec_with_token: CodecServerProcess
    client: Client
    env: dict[str, str]
    data_dir: Path
    fake: FakeLLMServer
    failing_queue: str

    async def cli(self, *args: str) -> Any:
        return await asyncio.to_thread(run_cli, self.env, *args)

    async def temporal(self, *args: str) -> str:
        command = [temporal_cli(), *args, "--address", self.server.address]
        done = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def fails_on_the_marker(request: Recorded) -> Reply:
    """The provider refuses the failing ticket, quoting it (as real APIs do in error messages)."""
    if FAIL_MARK in request.text:
        return Reply(
            status=400,
            error_type="invalid_request_error",
            error_message=f"cannot process the message about {FAIL_MARK}",
        )
    return good_answers(request)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PrivateStack]:
    data_dir = tmp_path_factory.mktemp("private")
    ui_port, codec_port = free_port(), free_port()
    ui_origin = f"http://localhost:{ui_port}"
    codec = CodecServerProcess(data_dir, codec_port, ui_origin)
    server = EmbeddedServer(
        data_dir, "127.0.0.1", free_port(), ui_port=ui_port, codec_endpoint=codec.url
    )
    server.ensure_key_file()  # what make run does first; the codec server needs the key
    with_token = CodecServerProcess(
        data_dir, free_port(), ui_origin, extra_env={"TICKETS_CODEC_AUTH_TOKEN": TOKEN}
    )
    env = environment(server.address, data_dir, TICKETS_PAYLOAD_OFFLOAD_BYTES=OFFLOAD)
    failing_queue = f"tickets-failing-{RUN}"
    try:
        # Inside the try, all three waited for: one of them failing to start stops the others
        # (a server left running outlives the test run).
        started = await asyncio.gather(
            server.start(), codec.start(), with_token.start(), return_exceptions=True
        )
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        converter = data_converter(
            env={"TICKETS_DATA_DIR": str(data_dir), "TICKETS_PAYLOAD_OFFLOAD_BYTES": OFFLOAD}
        )
        client = await connect(
            connection_settings({"TEMPORAL_ADDRESS": server.address}), converter=converter
        )
        with FakeLLMServer() as fake:
            fake.responder = fails_on_the_marker
            async with (
                real_pipeline(client, names.TICKETS_TASK_QUEUE, data_dir),
                llm_pipeline(client, failing_queue, data_dir, llm_setup(fake)),
            ):
                yield PrivateStack(
                    server, codec, with_token, client, env, data_dir, fake, failing_queue
                )
    finally:
        await asyncio.gather(server.stop(), codec.stop(), with_token.stop())


@pytest.fixture(scope="module")
async def tickets(stack: PrivateStack) -> dict[str, str]:
    """Ticket ids: a completed one (submitted with the CLI) and one that failed an activity."""
    submitted = await stack.cli(
        "submit",
        "--subject", f"Refund for order {MARK}",
        "--body", f"Please refund order {MARK}; my card ends 4242. Name: Jane Roe.",
        "--customer-id", CUSTOMER,
        "--wait", "--timeout", "60", "--json",
    )  # fmt: skip
    assert submitted.code == 0, submitted.output
    completed = json.loads(submitted.stdout)["submitted"][0]["ticket_id"]
    failing = make_ticket(
        subject=f"Account question {FAIL_MARK}", body=f"About {FAIL_MARK}.", customer_id=CUSTOMER
    )
    handle = await start_ticket(stack.client, stack.failing_queue, failing)
    view: TicketView = await wait_until(
        lambda: _settled(stack.client, handle.id), timeout=60, what="the failing ticket"
    )
    assert view.state is TicketState.FAILED and FAIL_MARK in (view.failure or "")
    return {"completed": completed, "failed": failing.ticket_id}


async def _settled(client: Client, workflow_id: str) -> TicketView | None:
    view: TicketView = await client.get_workflow_handle(workflow_id).query(
        names.STATUS_QUERY, result_type=TicketView
    )
    return view if view.state in (TicketState.COMPLETED, TicketState.FAILED) else None


def files_holding(paths: list[Path], *markers: str) -> list[str]:
    return [f"{p.name}: {m}" for p in paths for m in markers if m.encode() in p.read_bytes()]


async def test_ticket_text_is_in_no_server_file_payload_store_or_plain_cli_output(
    stack: PrivateStack, tickets: dict[str, str]
) -> None:
    server_files = sorted(stack.data_dir.glob("temporal.sqlite*"))
    assert stack.data_dir / "temporal.sqlite" in server_files
    stored = [p for p in (stack.data_dir / "payloads").rglob("*") if p.is_file()]
    assert len(stored) > 2, "the small offload threshold sends payloads to the store"
    # The server's SQLite file with its -wal and -shm, and the payload store: ciphertext only.
    # (The delivery ledger is the outbox a sending channel reads: it holds the answer sent.)
    assert files_holding([*server_files, *stored], MARK, FAIL_MARK, "Jane Roe") == []
    for ticket_id in tickets.values():
        workflow_id = names.ticket_workflow_id(ticket_id)
        for command in ("show", "describe"):
            shown = await stack.temporal("workflow", command, "--workflow-id", workflow_id)
            assert "WorkflowExecutionStarted" in shown or workflow_id in shown
            assert MARK not in shown and FAIL_MARK not in shown, command
    status = await stack.cli("status", tickets["completed"])
    assert status.code == 0 and MARK in status.stdout
    failed = await stack.cli("status", tickets["failed"], "--json")
    assert FAIL_MARK in json.loads(failed.stdout)["failure"]
    # The temporal CLI pointed at the codec server shows it again (memo, summary, result).
    decoded = await stack.temporal(
        "workflow",
        "describe",
        "--workflow-id",
        names.ticket_workflow_id(tickets["completed"]),
        "--codec-endpoint",
        stack.codec.url,
    )
    assert MARK in decoded


async def _encrypted_payload_json(stack: PrivateStack, value: str) -> dict[str, Any]:
    [payload] = await stack.client.data_converter.encode([value])
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
                "data": base64.b64encode(payload.data).decode(),
            }
        ]
    }


async def test_the_codec_server_decodes_only_for_allowed_origins_and_tokens(
    stack: PrivateStack,
) -> None:
    body = await _encrypted_payload_json(stack, f"hello {MARK}")
    ui = f"http://localhost:{stack.server.ui_port}"
    async with httpx2.AsyncClient(timeout=10) as http:
        allowed = await http.post(f"{stack.codec.url}/default/decode", json=body, headers={
            "Origin": ui, "X-Namespace": "default"})  # fmt: skip
        foreign = await http.post(f"{stack.codec.url}/default/decode", json=body, headers={
            "Origin": "http://evil.example"})  # fmt: skip
        preflight_ok = await http.options(f"{stack.codec.url}/default/decode", headers={
            "Origin": ui, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace"})  # fmt: skip
        preflight_foreign = await http.options(f"{stack.codec.url}/default/decode", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})  # fmt: skip
        no_token = await http.post(f"{stack.codec_with_token.url}/decode", json=body)
        wrong_token = await http.post(f"{stack.codec_with_token.url}/decode", json=body,
                                      headers={"Authorization": "Bearer nope"})  # fmt: skip
        right_token = await http.post(f"{stack.codec_with_token.url}/decode", json=body,
                                      headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        other_namespace = await http.post(f"{stack.codec.url}/secret-ns/decode", json=body)

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ui
    [decoded] = allowed.json()["payloads"]
    assert MARK in base64.b64decode(decoded["data"]).decode()
    assert foreign.status_code == 403 and MARK not in foreign.text
    assert preflight_ok.status_code == 200
    assert preflight_foreign.status_code == 400
    assert "access-control-allow-origin" not in preflight_foreign.headers
    assert (no_token.status_code, wrong_token.status_code) == (401, 401)
    assert MARK not in no_token.text + wrong_token.text
    assert (
        right_token.status_code == 200
        and MARK in base64.b64decode(right_token.json()["payloads"][0]["data"]).decode()
    )
    assert other_namespace.status_code == 404


async def test_the_web_ui_shows_a_ticket_decrypted_through_the_codec_server(
    stack: PrivateStack,
    tickets: dict[str, str],
    browser_context: BrowserContext,  # noqa: F811
    screenshots: Screenshots,  # noqa: F811
) -> None:
    workflow_id = names.ticket_workflow_id(tickets["completed"])
    page = await browser_context.new_page()
    await page.goto(f"{stack.server.ui_url}/namespaces/default/workflows/{workflow_id}")
    await page.get_by_text(MARK).first.wait_for(timeout=30_000)
    await screenshots.take(page, "web-ui-decrypted-ticket")
    assert MARK in await page.content()


async def test_erasing_a_customer_removes_their_tickets_children_rows_and_payloads(
    stack: PrivateStack, tickets: dict[str, str]
) -> None:
    sample = json.loads(Path("samples/tickets.jsonl").read_text().splitlines()[19])
    assert sample["ticket_id"] == "T-1027"  # a long account: triage marks it complex
    complex_ticket = make_ticket(
        subject=sample["subject"], body=sample["body"], customer_id=CUSTOMER
    )
    kept_ticket = make_ticket(subject="Invoice copy", customer_id=OTHER_CUSTOMER)
    handles = [
        await start_ticket(stack.client, names.TICKETS_TASK_QUEUE, ticket)
        for ticket in (complex_ticket, kept_ticket)
    ]
    for handle in handles:  # both run side by side
        await wait_until(lambda h=handle: _rested(stack.client, h.id), timeout=90, what=handle.id)
    complex_view = await _rested(stack.client, names.ticket_workflow_id(complex_ticket.ticket_id))
    assert complex_view is not None and complex_view.orchestration is not None
    # Another run under the resolution's id that this ticket did not start (another ticket may
    # take a failed one's id): by the id alone, the erase deleted that run, the latest, and
    # left this ticket's own (with the customer's text) in place.
    resolution = complex_view.orchestration
    others = await stack.client.start_workflow(
        "LeftOverRun", id=resolution, task_queue="nobody-polls-this",
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )  # fmt: skip

    dry = await stack.cli("erase", "--customer-id", CUSTOMER, "--json")
    assert dry.code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["erased"] is False
    assert {t["ticket_id"] for t in plan["tickets"]} == {
        tickets["completed"],
        tickets["failed"],
        complex_ticket.ticket_id,
    }
    children = next(t for t in plan["tickets"] if t["ticket_id"] == complex_ticket.ticket_id)
    assert (
        f"{names.ticket_workflow_id(complex_ticket.ticket_id)}/resolution" in children["children"]
    )
    assert plan["stored_payloads"] > 0
    assert await _exists(stack.client, names.ticket_workflow_id(tickets["completed"]))

    done = await stack.cli("erase", "--customer-id", CUSTOMER, "--yes", "--json")
    assert done.code == 0, done.output
    report = json.loads(done.stdout)
    assert report["erased"] is True
    assert report["workflow_executions"] >= 3 + len(children["children"])
    assert set(report["ledger_rows"]) >= {tickets["completed"], complex_ticket.ticket_id}
    # At least what the dry run saw: a status query's large answer is stored too meanwhile.
    assert report["stored_payloads"] >= plan["stored_payloads"]
    store = FilePayloadDriver(stack.data_dir / "payloads")
    for t in plan["tickets"]:
        for owner in (t["workflow_id"], *t["children"]):
            assert await store.payloads_of(owner) == set()

    gone = await stack.cli("status", tickets["completed"])  # as a user would ask
    assert gone.code == 1 and f"no ticket {tickets['completed']}" in gone.stderr
    for t in plan["tickets"]:
        for workflow_id in (t["workflow_id"], *t["children"]):
            if workflow_id != resolution:
                assert not await _exists(stack.client, workflow_id), workflow_id

    async def only_the_other_run_listed() -> bool:
        runs = stack.client.list_workflows(f"WorkflowId = '{resolution}'")
        return [r.run_id async for r in runs] == [others.first_execution_run_id]

    await wait_until(only_the_other_run_listed, what="this ticket's resolution run deleted")
    await others.terminate()
    assert await _exists(stack.client, names.ticket_workflow_id(kept_ticket.ticket_id))


async def test_erasing_by_e_mail_address_finds_tickets_without_a_customer_id_in_any_case(
    stack: PrivateStack,
) -> None:
    # A data-subject request names an address; a web form's tickets carry only that address (no
    # customer id), and the e-mail route keeps the sender's as sent: `erase --customer-id` found
    # none of them, and their ledger rows (no customer id on them) stayed.
    address = f"Jane.Roe.{RUN}@Example.com"
    web = make_ticket(customer_email=address)  # answered at once: its answer is in the ledger
    mailed = make_ticket(customer_id=address.upper())
    other = make_ticket(customer_email=f"other.{RUN}@example.com")
    for ticket in (web, mailed, other):
        handle = await start_ticket(stack.client, names.TICKETS_TASK_QUEUE, ticket)
        await wait_until(lambda h=handle: _rested(stack.client, h.id), timeout=90, what=handle.id)
    assert await _ledger_row(stack, web.ticket_id) is not None
    # An e-mailed ticket answered long ago: retention took its workflow, its row stays, under
    # its sender's address as the customer id. Found by no workflow, it was left behind.
    gone = f"T-GONE-{RUN}"
    row = delivery(gone)
    await _record_row(stack, NewDelivery(**{**row.__dict__, "customer_id": address}))

    dry = await stack.cli("erase", "--email", address, "--json")
    done = await stack.cli("erase", "--email", f" {address.lower()} ", "--yes", "--json")

    assert done.code == 0, done.output
    report = json.loads(done.stdout)
    assert {t["ticket_id"] for t in report["tickets"]} == {web.ticket_id, mailed.ticket_id}
    assert web.ticket_id in report["ledger_rows"]  # its row holds no customer id
    assert await _ledger_row(stack, web.ticket_id) is None
    assert gone in json.loads(dry.stdout)["ledger_rows"] and gone in report["ledger_rows"]
    assert await _ledger_row(stack, gone) is None
    for ticket in (web, mailed):
        assert not await _exists(stack.client, names.ticket_workflow_id(ticket.ticket_id))
    assert await _exists(stack.client, names.ticket_workflow_id(other.ticket_id))


async def _ledger_row(stack: PrivateStack, ticket_id: str) -> Any:
    """The worker's ledger row for the ticket (its SQLite file in the data directory)."""
    ledger = SqliteLedger(stack.data_dir / "outbox.sqlite3")
    try:
        return await ledger.get(ticket_id)
    finally:
        await ledger.close()


async def _record_row(stack: PrivateStack, entry: NewDelivery) -> None:
    ledger = SqliteLedger(stack.data_dir / "outbox.sqlite3")
    try:
        await ledger.record(entry)
    finally:
        await ledger.close()


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _rested(client: Client, workflow_id: str) -> TicketView | None:
    view: TicketView = await client.get_workflow_handle(workflow_id).query(
        names.STATUS_QUERY, result_type=TicketView
    )
    settled = (TicketState.COMPLETED, TicketState.AWAITING_REVIEW, TicketState.FAILED)
    return view if view.state in settled else None
