"""The API's answer to an error the Temporal server gave: the server's own words (its
namespaces, ids, limits) for a token that may read tickets, and only what happened with a
reference to the log for an intake-only token, whatever the status."""

import json
import logging

import pytest
from starlette.requests import Request
from temporalio.service import RPCError, RPCStatusCode

from api.accounts import Account, Role
from api.errors import _rpc_error

SERVER_SAID = "namespace rate limit exceeded for namespace prod-eu-tickets"


def request_by(*roles: Role) -> Request:
    request = Request({"type": "http", "method": "POST", "path": "/tickets", "headers": []})
    request.state.account = Account("someone", frozenset(roles))
    return request


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (RPCStatusCode.INVALID_ARGUMENT, 400),
        (RPCStatusCode.NOT_FOUND, 404),
        (RPCStatusCode.RESOURCE_EXHAUSTED, 503),
        (RPCStatusCode.UNAVAILABLE, 503),
    ],
)
async def test_an_intake_only_token_gets_a_reference_not_the_servers_words(
    status: RPCStatusCode, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    error = RPCError(SERVER_SAID, status, b"")
    with caplog.at_level(logging.WARNING):
        intake = await _rpc_error(request_by(Role.SUBMIT), error)
    reader = await _rpc_error(request_by(Role.READ), error)

    intake_message = json.loads(intake.body)["message"]
    assert intake.status_code == reader.status_code == code
    assert "prod-eu-tickets" not in intake_message and "(reference " in intake_message
    assert SERVER_SAID in json.loads(reader.body)["message"]
    assert any(SERVER_SAID in r.getMessage() for r in caplog.records)  # the log has it
