"""Ticket text is private on a real dev server (SQLite file in a temporary folder), end to end:

- tickets whose subject and body carry a unique marker, one of them failing an activity with the
  marker in the failure message, leave the marker in none of the server's files, nor in the
  payload store, nor in ``temporal workflow show`` / ``describe`` without the codec; ``status``
  (with the key ring) and the CLI through the codec server show it;
- the codec server refuses an origin it does not know and a request without its token, and
  decodes for the Web UI's origin;
- the embedded server's Web UI, in real headless Chromium, shows a ticket's subject decrypted
  through the codec server;
- (``erase`` on the same stack: test_privacy_erase.py.)

The stack: tests/support/private_stack.py.
"""

import base64
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.async_api import BrowserContext

from shared import names
from tests.support.browser import Screenshots, browser, browser_context, screenshots  # noqa: F401
from tests.support.private_stack import (
    FAIL_MARK,
    MARK,
    TOKEN,
    PrivateStack,
)

pytestmark = pytest.mark.integration


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
