"""The private stack of the privacy tests: a real dev server on a SQLite file, two codec
servers (one with a token), the real workers (offline agents; the openai provider against the
fake LLM server on a queue of its own) and the payload store with a small offload threshold;
every client, worker and CLI process finds its key in the data directory's key file, as with
``make run``. Module-scoped: each test module that imports ``stack`` starts its own."""

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from policy.transitions import TicketState
from shared import names
from shared.data_converter import data_converter
from shared.temporal_client import connect, connection_settings
from shared.view import TicketView
from starter.codec_process import CodecServerProcess
from starter.embedded import EmbeddedServer, temporal_cli
from tests.support.browser import Screenshots, browser, browser_context, screenshots  # noqa: F401
from tests.support.fake_llm import FakeLLMServer, Recorded, Reply, good_answers
from tests.support.llm_pipeline import llm_pipeline, llm_setup
from tests.support.processes import environment, free_port, run_cli
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import real_pipeline

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


async def rested_view(client: Client, workflow_id: str) -> TicketView | None:
    view: TicketView = await client.get_workflow_handle(workflow_id).query(
        names.STATUS_QUERY, result_type=TicketView
    )
    settled = (TicketState.COMPLETED, TicketState.AWAITING_REVIEW, TicketState.FAILED)
    return view if view.state in settled else None
