"""What a caller's tracing headers carry into a ticket: its trace ids, never its baggage or its
tracestate.

W3C baggage is whatever an upstream gateway or instrumented client put there (user ids, e-mail
addresses, tenants). The Temporal plugin copies the whole OpenTelemetry context into the
workflow's ``_tracer-data`` header, which the payload codec does not encrypt, and the providers'
HTTP hook sent it on to the model provider: the API reads trace context only."""

import json

import httpx
import pytest
from temporalio.client import Client

from shared import names
from tests.api.helpers import routine_ticket, unique_id
from tests.support.api_server import Tokens, bearer

pytestmark = pytest.mark.api

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
BAGGAGE = "customer.email=ana.lima%40example.com"
TRACESTATE = "customer=ana.lima@example.com"


async def test_a_callers_baggage_stays_out_of_the_ticket_and_its_trace_context_goes_in(
    http: httpx.AsyncClient, tokens: Tokens, api_temporal: Client
) -> None:
    ticket_id = unique_id("TRACE")
    headers = bearer(tokens.submit) | {
        "traceparent": TRACEPARENT,
        "baggage": BAGGAGE,
        "tracestate": TRACESTATE,  # free text too: a vendor entry may hold anything
    }
    response = await http.post("/tickets", headers=headers, json=routine_ticket(ticket_id))
    assert response.status_code == 202, response.text

    handle = api_temporal.get_workflow_handle(names.ticket_workflow_id(ticket_id))
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    carried = json.loads(started.header.fields["_tracer-data"].data)

    assert "ana.lima" not in str(started.header) and "baggage" not in carried, carried
    assert not carried.get("tracestate"), carried
    assert carried["traceparent"].split("-")[1] == TRACE_ID
