"""`erase` says which of the customer's tickets were running: the deletion terminates them, but an
agent call already under way goes on until it finds the ticket gone, and a result it stores then
outlives the erasure until `gc-payloads` (the ledger is fenced:
tests/stores/test_ledger_fence.py)."""

import pytest

from starter.erase import ErasedTicket, ErasureReport
from starter.erase_command import print_report


def report(*, erased: bool) -> ErasureReport:
    return ErasureReport(
        customer_id="C-1",
        erased=erased,
        tickets_scanned=3,
        tickets=[
            ErasedTicket(ticket_id="T-1", workflow_id="ticket-T-1", runs=["r1"]),
            ErasedTicket(ticket_id="T-2", workflow_id="ticket-T-2", runs=["r2"], running=True),
        ],
    )


@pytest.mark.parametrize(
    ("erased", "said"),
    [
        (False, "running ticket T-2 is running: erasing it terminates it"),
        (True, "running ticket T-2 was running: it records no answer any more"),
    ],
)
def test_a_running_ticket_is_named_and_the_second_erase_asked_for(
    capsys: pytest.CaptureFixture[str], erased: bool, said: str
) -> None:
    print_report(report(erased=erased))
    out = " ".join(capsys.readouterr().out.split())
    assert said in out
    assert "ticket T-1 is running" not in out and "ticket T-1 was running" not in out
    assert ("`gc-payloads --yes` deletes it" in out) is erased
