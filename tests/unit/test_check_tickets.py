"""The batch's check on quiet tickets describes them several at a time: one after another, a
window of 1,000 against a distant server outlasted the activity's two minutes on every attempt.
A fake client stands in for the server (its describes wait until enough run at once)."""

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from activities.ticket_activities import CHECKS_AT_ONCE, check_tickets
from shared import names
from shared.batch import TicketCheck

TICKETS = [f"T-{i}" for i in range(CHECKS_AT_ONCE + 4)]


# The batch the check runs for: the activity environment's workflow.
BATCH_ID = ActivityEnvironment().info.workflow_id


@dataclass
class FakeDescribed:
    status: WorkflowExecutionStatus
    parent_id: str | None = BATCH_ID  # the batch's own children


@dataclass
class FakeClient:
    """Describes that return only once CHECKS_AT_ONCE of them are waiting together."""

    in_flight: int = 0
    most: int = 0
    together: asyncio.Event = field(default_factory=asyncio.Event)

    def get_workflow_handle(self, workflow_id: str) -> Any:
        return FakeHandle(self, workflow_id)


@dataclass
class FakeHandle:
    client: FakeClient
    workflow_id: str

    async def describe(self) -> FakeDescribed:
        c = self.client
        c.in_flight += 1
        c.most = max(c.most, c.in_flight)
        if c.in_flight >= CHECKS_AT_ONCE:
            c.together.set()
        try:
            await asyncio.wait_for(c.together.wait(), 5)
        finally:
            c.in_flight -= 1
        if self.workflow_id == names.ticket_workflow_id("T-3"):
            raise RPCError("gone", RPCStatusCode.NOT_FOUND, b"")
        done = self.workflow_id == names.ticket_workflow_id("T-5")
        return FakeDescribed(
            WorkflowExecutionStatus.TERMINATED if done else WorkflowExecutionStatus.RUNNING
        )


async def test_quiet_tickets_are_described_several_at_a_time_and_the_closed_ones_named() -> None:
    client = FakeClient()
    closed = await ActivityEnvironment(client=client).run(  # type: ignore[arg-type]
        check_tickets, TicketCheck(ticket_ids=TICKETS)
    )
    assert client.most == CHECKS_AT_ONCE
    assert [(c.ticket_id, c.state) for c in closed] == [("T-3", "NOT_FOUND"), ("T-5", "TERMINATED")]


async def test_a_describe_the_server_refuses_ends_the_attempt_with_its_error() -> None:
    class Refusing(FakeClient):
        def get_workflow_handle(self, workflow_id: str) -> Any:
            if workflow_id == names.ticket_workflow_id("T-7"):
                return SimpleNamespace(describe=self._refused)
            return super().get_workflow_handle(workflow_id)

        async def _refused(self) -> None:
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")

    client = Refusing()
    with pytest.raises(RPCError, match="unavailable"):
        await ActivityEnvironment(client=client).run(  # type: ignore[arg-type]
            check_tickets, TicketCheck(ticket_ids=TICKETS)
        )
    assert client.in_flight == 0  # the other describes were cancelled, not left running
