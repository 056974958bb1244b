"""A status query that no worker can answer is a NoWorker, whatever way the server says it: it
timed out, or (no worker polled the queue for a while) "no poller seen for task queue recently,
worker may be down", which the CLI passed on as the server's raw answer."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from shared.operation_errors import NoWorker
from shared.ticket_status import _queried_view


class FakeHandle:
    def __init__(self, error: RPCError) -> None:
        self.error = error

    async def query(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    async def fetch_history_events(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        # No history to read (whether this process can decrypt the ticket is not asked here).
        for event in ():
            yield event


class FakeClient:
    namespace = "default"

    def __init__(self, error: RPCError) -> None:
        self.error = error

    def get_workflow_handle(self, *args: Any, **kwargs: Any) -> FakeHandle:
        return FakeHandle(self.error)


@pytest.mark.parametrize(
    "error",
    [
        RPCError("deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b""),
        RPCError(
            "no poller seen for task queue recently, worker may be down",
            RPCStatusCode.FAILED_PRECONDITION,
            b"",
        ),
    ],
)
async def test_a_query_no_worker_answers_is_no_worker(error: RPCError) -> None:
    with pytest.raises(NoWorker, match="no worker answered the status query for T-1: is"):
        await _queried_view(FakeClient(error), "T-1", None)  # type: ignore[arg-type]


async def test_other_server_errors_pass_through() -> None:
    error = RPCError("namespace is not found", RPCStatusCode.INVALID_ARGUMENT, b"")
    with pytest.raises(RPCError, match="namespace is not found"):
        await _queried_view(FakeClient(error), "T-1", None)  # type: ignore[arg-type]
