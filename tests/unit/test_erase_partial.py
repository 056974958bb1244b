"""erase when the server refuses to delete one ticket's workflow: the others are erased and
reported, the refused one is named and kept whole (its payloads and rows too) for the next run.
Before, the error ended the command with no report, the payload and ledger steps never ran, and
the tickets already deleted were no longer found by a second run."""

import asyncio
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from shared.stores.config import StoreConfig
from shared.stores.errors import StoreUnavailable
from shared.stores.ledger import NewDelivery
from shared.stores.payloads import PayloadOwner
from shared.stores.payloads_file import FilePayloadDriver
from shared.stores.sqlite_ledger import SqliteLedger
from starter.erase import (
    EARLIER_LEDGER,
    Customer,
    ErasedTicket,
    ErasureInterrupted,
    ErasureReport,
    erase_customer,
    find_tickets,
)
from starter.erase_workflows import delete_workflows
from tests.stores.conftest import delivery

# What a deletion the server refused says (the ledger is fenced before: docs/privacy.md).
REFUSED = (
    "ticket-T-2: not deleted: the server is unavailable (fenced already: it records no answer "
    "any more)"
)


class FakeServer:
    """A fake of the two calls erase makes per run: delete (refused for ``refused``) and
    describe (not found once deleted)."""

    def __init__(self, refused: str, started_meanwhile: dict[str, str] | None = None) -> None:
        self.refused = refused
        self.deleted: set[tuple[str, str]] = set()
        # Workflow id -> the run of it started after the erasure listed the tickets.
        self.started_meanwhile = started_meanwhile or {}
        self.workflow_service = SimpleNamespace(delete_workflow_execution=self._delete)
        self.namespace = "default"

    async def _delete(self, request: Any) -> None:
        execution = request.workflow_execution
        if execution.workflow_id == self.refused:
            raise RPCError("the server is unavailable", RPCStatusCode.UNAVAILABLE, b"")
        self.deleted.add((execution.workflow_id, execution.run_id))

    def list_workflows(self, query: str) -> Any:
        """The runs left under the ticket's id once it is deleted: those started meanwhile."""
        left = [
            SimpleNamespace(id=wid, run_id=run)
            for wid, run in self.started_meanwhile.items()
            if query == f"WorkflowId = '{wid}'"
        ]

        async def listed() -> Any:
            for run in left:
                yield run

        return listed()

    def get_workflow_handle(self, workflow_id: str, run_id: str) -> Any:
        async def describe() -> None:
            if (workflow_id, run_id) in self.deleted:
                raise RPCError("not found", RPCStatusCode.NOT_FOUND, b"")

        return SimpleNamespace(describe=describe)


def ticket(number: int) -> ErasedTicket:
    return ErasedTicket(
        ticket_id=f"T-{number}", workflow_id=f"ticket-T-{number}", runs=[f"run-{number}"]
    )


async def test_a_ticket_the_server_will_not_delete_is_named_and_the_others_go() -> None:
    server = FakeServer(refused="ticket-T-2")
    report = ErasureReport(customer_id="C-1", erased=True, tickets_scanned=3)
    tickets = [ticket(1), ticket(2), ticket(3)]

    gone = await delete_workflows(server, tickets, report)  # type: ignore[arg-type]

    assert [t.ticket_id for t in gone] == ["T-1", "T-3"]
    assert report.failed == [REFUSED]
    assert report.workflow_executions == 2


async def test_a_run_of_a_ticket_started_while_it_was_erased_is_named() -> None:
    """A redrive, a resubmission: the run has the customer's text and no fence; it went unsaid
    and the command said all was erased."""
    server = FakeServer(refused="", started_meanwhile={"ticket-T-2": "run-new"})
    report = ErasureReport(customer_id="C-1", erased=True, tickets_scanned=2)

    gone = await delete_workflows(server, [ticket(1), ticket(2)], report)  # type: ignore[arg-type]

    assert [t.ticket_id for t in gone] == ["T-1", "T-2"]
    assert report.failed == [
        "ticket-T-2: 1 run(s) of it started during the erasure (a redrive, a resubmission); "
        "run erase again to erase them"
    ]


def finds(monkeypatch: pytest.MonkeyPatch, tickets: list[ErasedTicket]) -> None:
    """``find_tickets`` finds ``tickets`` (each scanned once, all readable), and no running
    batch has one of the customer's still to start."""

    async def found(client: Any, customer: Customer) -> tuple[list[ErasedTicket], int, list[str]]:
        return tickets, len(tickets), []

    async def none_pending(
        client: Any, customer: Customer, unreadable: list[str], started: Any = None
    ) -> dict:
        return {}

    monkeypatch.setattr("starter.erase.find_tickets", found)
    monkeypatch.setattr("starter.erase.pending_in_batches", none_pending)


async def erased_c1(stores: Any, *, really: bool = True) -> ErasureReport:
    """erase_customer for customer C-1 on a fake server that deletes every run asked."""
    return await erase_customer(
        FakeServer(refused=""),  # type: ignore[arg-type]
        stores,
        Customer(customer_id="C-1"),
        really=really,
    )


class FakeStores:
    """Fakes of the payload store and the ledger, recording what erase asked of them."""

    def __init__(self) -> None:
        self.payloads_erased: list[str] = []
        self.by_customer: list[str] = []
        self.answers: list[str] = []
        self.answer_chains: list[list[str]] = []
        self.payloads = SimpleNamespace(
            erase_owned_by=self._erase_payloads, payloads_of=self._payloads_of
        )
        self.fenced: list[str] = []
        self.ledger = SimpleNamespace(
            delete=self._delete,
            delete_answer=self._delete_answer,
            clear_erased=self._clear,
            fence=self._fence,
            get=self._get,
            customer_rows=self._customer_rows,
        )

    async def _fence(self, chains: list[str]) -> None:
        self.fenced += chains

    async def _erase_payloads(self, workflow_id: str, namespace: str) -> int:
        if namespace == "default":  # (its replayers' copies are asked for too: same ticket)
            self.payloads_erased.append(workflow_id)
        return 1

    async def _delete(self, customer: str, *, any_case: bool = False) -> list[str]:
        self.by_customer.append(customer)
        return []

    async def _delete_answer(self, ticket_id: str, chains: list[str], customer: Any) -> bool:
        self.answers.append(ticket_id)
        self.answer_chains.append(list(chains))
        return True

    async def _clear(self) -> None:
        return None

    async def _get(self, ticket_id: str) -> None:
        return None

    async def _customer_rows(self, customer: str, *, any_case: bool = False) -> list[str]:
        return []

    async def _payloads_of(self, workflow_id: str) -> set[str]:
        return set()


async def test_the_refused_ticket_keeps_its_payloads_and_rows_for_the_next_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tickets = [ticket(1), ticket(2)]

    finds(monkeypatch, tickets)
    stores = FakeStores()

    report = await erase_customer(
        FakeServer(refused="ticket-T-2"),  # type: ignore[arg-type]
        stores,  # type: ignore[arg-type]
        Customer(customer_id="C-1"),
        really=True,
    )

    assert report.failed == [REFUSED]
    assert stores.payloads_erased == ["ticket-T-1"] and stores.answers == ["T-1"]
    assert stores.by_customer == []  # rows by customer wait for the run that erases them all
    assert report.ledger_rows == ["T-1"]


async def test_a_reset_ticket_s_answer_is_found_by_its_chain_not_only_by_its_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A delivery names its ticket's chain (the first run's id): a reset run whose base run
    passed retention has another run id, and its row (the answer's text) stayed."""
    reset = ErasedTicket(
        ticket_id="T-1",
        workflow_id="ticket-T-1",
        runs=["run-reset"],
        chains=["run-reset", "run-base"],
    )
    finds(monkeypatch, [reset])
    stores = FakeStores()

    await erased_c1(stores)

    assert stores.answer_chains == [["run-reset", "run-base"]]


async def test_on_a_database_the_data_directory_s_payloads_and_ledger_are_erased_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stack moved from files to PostgreSQL still reads the files (what a machine stored
    before it joined the cluster): erase searched the database's store and ledger alone, and the
    customer's payloads and answers stayed in data/."""
    config = StoreConfig(data_dir=tmp_path, database_url="postgresql://db.example/tickets")
    files = FilePayloadDriver(config.payload_dir)
    owner = PayloadOwner(kind="workflow", id="ticket-T-1", namespace="default")
    await files.put_many([("a" * 64, b"the customer's text")], owner)
    earlier = SqliteLedger(config.ledger_path)
    await earlier.record(delivery("T-1"))  # customer C-1
    await earlier.record(NewDelivery(**{**delivery("T-9").__dict__, "customer_id": "C-9"}))
    await earlier.close()
    finds(monkeypatch, [ticket(1)])
    fakes = FakeStores()
    stores = SimpleNamespace(config=config, payloads=fakes.payloads, ledger=fakes.ledger)

    report = await erased_c1(stores)

    assert report.failed == []
    assert await files.payloads_of("ticket-T-1") == set()
    assert report.ledger_rows == ["T-1"]
    kept = SqliteLedger(config.ledger_path)
    assert await kept.get("T-1") is None and await kept.get("T-9") is not None
    await kept.close()


@pytest.mark.parametrize("really", [True, False])
async def test_an_earlier_ledger_that_cannot_be_read_holds_up_nothing_else(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, really: bool
) -> None:
    """Read in the same step as the database's ledger, a broken outbox.sqlite3 kept the rows of
    the tickets just deleted there too (found by chain only, lost once the workflows went), and
    failed the dry run with an unexpected error."""
    config = StoreConfig(data_dir=tmp_path, database_url="postgresql://db.example/tickets")
    config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    config.ledger_path.write_bytes(b"not a database" * 100)
    finds(monkeypatch, [ticket(1)])
    fakes = FakeStores()
    stores = SimpleNamespace(config=config, payloads=fakes.payloads, ledger=fakes.ledger)

    report = await erased_c1(stores, really=really)

    if really:
        assert fakes.answers == ["T-1"]  # the database's ledger row went
        assert [f.split(" did not answer")[0] for f in report.failed] == [EARLIER_LEDGER]
    else:
        assert [u.split(": ")[0] for u in report.unreadable] == [EARLIER_LEDGER]


class SlowToDeleteFake(FakeServer):
    """A fake server that takes each deletion and never finishes it while erase waits."""

    def get_workflow_handle(self, workflow_id: str, run_id: str) -> Any:
        async def describe() -> None:
            return None  # still there

        return SimpleNamespace(describe=describe)


async def test_a_ticket_whose_deletion_was_asked_goes_whole_though_the_server_was_slow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its payloads and row were kept "for the next run", which could no longer find the ticket
    # (its workflow was being deleted): the answer's text stayed in the ledger for good.
    tickets = [ticket(1)]

    finds(monkeypatch, tickets)
    monkeypatch.setattr("starter.erase_workflows.DELETION_TIMEOUT_SECONDS", 0.0)
    stores = FakeStores()

    report = await erase_customer(
        SlowToDeleteFake(refused="none"),  # type: ignore[arg-type]
        stores,  # type: ignore[arg-type]
        Customer(customer_id="C-1"),
        really=True,
    )

    assert stores.payloads_erased == ["ticket-T-1"] and stores.answers == ["T-1"]
    assert report.ledger_rows == ["T-1"]
    assert report.failed and "deletion asked, not finished" in report.failed[0]


@pytest.mark.parametrize("step", ["_wait_gone", "_runs_left"])
async def test_a_ctrl_c_after_the_deletions_still_erases_what_was_asked(
    monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """The check for runs started meanwhile let a raw cancellation through: the workflows were
    gone, their payloads and rows kept where no later run finds them."""
    tickets = [ticket(1), ticket(2)]

    async def interrupted(*args: Any) -> None:
        raise asyncio.CancelledError()

    finds(monkeypatch, tickets)
    monkeypatch.setattr(f"starter.erase_workflows.{step}", interrupted)
    stores = FakeStores()

    with pytest.raises(ErasureInterrupted) as stopped:
        await erase_customer(
            FakeServer(refused="none"),  # type: ignore[arg-type]
            stores,  # type: ignore[arg-type]
            Customer(customer_id="C-1"),
            really=True,
        )

    assert stores.payloads_erased == ["ticket-T-1", "ticket-T-2"]
    assert stores.answers == ["T-1", "T-2"]
    # Still a cancellation (exit 130), carrying the report the command prints: it printed
    # nothing before (a review, 2026-12-07).
    assert isinstance(stopped.value, asyncio.CancelledError)
    assert [t.ticket_id for t in stopped.value.report.tickets] == ["T-1", "T-2"]
    assert stopped.value.report.ledger_rows == ["T-1", "T-2"]


async def test_another_customer_s_run_under_the_ticket_s_id_is_not_taken_for_a_new_one() -> None:
    """A keyed id reused by another customer, a run whose input could not be read: the listing
    saw them; only a run it did not see started during the erasure."""
    server = FakeServer(refused="", started_meanwhile={"ticket-T-1": "run-other"})
    report = ErasureReport(customer_id="C-1", erased=True, tickets_scanned=2)
    seen = ticket(1).model_copy(update={"listed_runs": ["run-1", "run-other"]})

    await delete_workflows(server, [seen], report)  # type: ignore[arg-type]

    assert report.failed == []


async def test_a_child_the_server_will_not_delete_keeps_its_ticket_findable() -> None:
    # The ticket's own runs went first: a refused child then left a ticket no run could find,
    # and the child (its input holds the customer's text) stayed for good.
    server = FakeServer(refused="ticket-T-2/resolution")
    report = ErasureReport(customer_id="C-1", erased=True, tickets_scanned=2)
    second = ticket(2).model_copy(update={"child_runs": [("ticket-T-2/resolution", "c-2")]})

    gone = await delete_workflows(server, [ticket(1), second], report)  # type: ignore[arg-type]

    assert [t.ticket_id for t in gone] == ["T-1"]
    assert ("ticket-T-2", "run-2") not in server.deleted
    assert report.failed == [REFUSED]


class InterruptedFake(FakeServer):
    """A fake server where Ctrl-C comes while one run's deletion is sent."""

    def __init__(self, interrupted_at: str) -> None:
        super().__init__(refused="")
        self.interrupted_at = interrupted_at

    async def _delete(self, request: Any) -> None:
        if request.workflow_execution.workflow_id == self.interrupted_at:
            raise asyncio.CancelledError()
        await super()._delete(request)


async def test_a_ctrl_c_while_deletions_go_out_still_erases_what_was_deleted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only a Ctrl-C during the wait was handled: one while the deletions went out ended the
    # command, and the tickets already deleted kept their payloads and rows where no later run
    # finds them.
    tickets = [ticket(1), ticket(2)]

    finds(monkeypatch, tickets)
    stores = FakeStores()

    with pytest.raises(asyncio.CancelledError):
        await erase_customer(
            InterruptedFake("ticket-T-2"),  # type: ignore[arg-type]
            stores,  # type: ignore[arg-type]
            Customer(customer_id="C-1"),
            really=True,
        )

    assert stores.payloads_erased == ["ticket-T-1"] and stores.answers == ["T-1"]


class FailingStoresFake(FakeStores):
    """Fakes of the stores whose payload store fails for one ticket (a database restarting)."""

    def __init__(self, failing: str) -> None:
        super().__init__()
        self.failing = failing

    async def _erase_payloads(self, workflow_id: str, namespace: str) -> int:
        if workflow_id == self.failing:
            raise OSError("the payload store's disk is read-only")
        return await super()._erase_payloads(workflow_id, namespace)


async def test_a_store_error_after_the_deletions_is_reported_and_the_rest_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It ended the command with no report: the tickets after it kept their payloads and rows,
    # and no later run could find them (their workflows were gone).
    tickets = [ticket(1), ticket(2)]

    finds(monkeypatch, tickets)
    stores = FailingStoresFake("ticket-T-1")

    report = await erased_c1(stores)

    assert stores.payloads_erased == ["ticket-T-2"] and stores.answers == ["T-1", "T-2"]
    assert len(report.failed) == 1 and report.failed[0].startswith("ticket-T-1: deleted, but")
    assert "gc-payloads" in report.failed[0]


async def test_a_batch_whose_runs_cannot_be_read_is_named_not_passed_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The batch holds the ticket's answer as its payload: when its runs could not be listed,
    # the answer stayed and the report said nothing (exit 0, "erased").
    tickets = [ticket(1).model_copy(update={"batch_id": "batch-1"})]

    async def unreadable(client: Any, batch_id: str) -> None:
        return None

    async def refers(client: Any, workflow_id: str, runs: Any) -> set[str]:
        return {"h"}

    finds(monkeypatch, tickets)
    monkeypatch.setattr("starter.erase.held_by_batch", unreadable)
    monkeypatch.setattr("starter.erase.referred_to", refers)

    report = await erase_customer(
        FakeServer(refused=""),  # type: ignore[arg-type]
        FakeStores(),  # type: ignore[arg-type]
        Customer(customer_id="C-1"),
        really=True,
    )

    assert [f.split(":")[0] for f in report.failed] == ["ticket-T-1"]
    assert "batch batch-1's runs could not be read" in report.failed[0]


async def test_a_ticket_s_batch_is_found_whichever_of_its_runs_is_listed_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `redrive` starts a FAILED batch ticket again without its batch: that newer run is listed
    # first, and the batch holding the customer's ticket went unreported.
    runs = [
        SimpleNamespace(
            id="ticket-T-1",
            run_id=r,
            status=WorkflowExecutionStatus.COMPLETED,
        )
        for r in ("r-new", "r-old")
    ]
    inputs = {
        "r-new": {"ticket": {"ticket_id": "T-1", "customer_id": "C-1"}},
        "r-old": {"ticket": {"ticket_id": "T-1", "customer_id": "C-1"}, "batch_id": "batch-1"},
    }

    async def listed(query: str) -> Any:
        for run in runs:
            yield run

    async def ticket_input(client: Any, workflow_id: str, run_id: str) -> tuple[dict, str]:
        # r-new was reset from r-old: its deliveries name r-old's chain.
        return inputs[run_id], "r-old"

    async def no_children(client: Any, workflow_id: str, run_ids: Any) -> list[Any]:
        return []

    monkeypatch.setattr("starter.erase_find._ticket_input", ticket_input)
    monkeypatch.setattr("starter.erase_find.child_runs_of", no_children)
    client = SimpleNamespace(list_workflows=listed)

    [found], scanned, _ = await find_tickets(client, Customer(customer_id="C-1"))  # type: ignore[arg-type]

    assert (found.batch_id, found.runs, scanned) == ("batch-1", ["r-new", "r-old"], 2)
    assert (found.chains, found.running) == (["r-new", "r-old"], False)


class FailingStores(FakeStores):
    """The fake stores, the payload store failing for ``ticket-T-1`` with a driver's own error
    (not StoreUnavailable: an open pool lets those through) and the ledger's clean-up too."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.ledger.clear_erased = self._clear_fails

    async def _erase_payloads(self, workflow_id: str, namespace: str) -> int:
        if workflow_id == "ticket-T-1":
            raise self.error
        return await super()._erase_payloads(workflow_id, namespace)

    async def _clear_fails(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        sqlite3.OperationalError("database is locked"),
        json.JSONDecodeError("Expecting value", '{"owner": ', 10),  # a torn owner-file line
    ],
    ids=["postgres-gone", "statement-timeout", "sqlite-locked", "torn-file-line"],
)
async def test_a_driver_error_after_the_deletions_is_reported_and_the_rest_go_on(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    # The workflows are deleted by then: an error that escaped ended erase with no report, the
    # answers still in the ledger, and a second run could no longer find those tickets.
    finds(monkeypatch, [ticket(1), ticket(2)])
    stores = FailingStores(error)

    report = await erase_customer(
        FakeServer(refused="none"),  # type: ignore[arg-type]
        stores,  # type: ignore[arg-type]
        Customer(customer_id="C-1"),
        really=True,
    )

    assert report.failed[0].startswith("ticket-T-1: deleted, but its stored payloads were not")
    assert str(error) in report.failed[0]
    assert stores.payloads_erased == ["ticket-T-2"]
    assert stores.answers == ["T-1", "T-2"] and report.ledger_rows == ["T-1", "T-2"]
    assert "write-ahead log" in report.failed[-1]


async def test_the_ledger_is_fenced_before_any_deletion_and_a_fence_refused_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A delivery under way as its ticket was deleted wrote its row after the rows were deleted.
    tickets = [ticket(1)]
    tickets[0].chains = ["run-1", "first-run-1"]
    finds(monkeypatch, tickets)
    server, stores = FakeServer(refused="none"), FakeStores()
    deleting = server._delete

    async def delete_after_the_fence(request: Any) -> None:
        assert stores.fenced == ["run-1", "first-run-1"], "deleted before the fence"
        await deleting(request)

    server.workflow_service = SimpleNamespace(delete_workflow_execution=delete_after_the_fence)
    report = await erase_customer(
        server,  # type: ignore[arg-type]
        stores,  # type: ignore[arg-type]
        Customer(customer_id="C-1"),
        really=True,
    )
    assert server.deleted == {("ticket-T-1", "run-1")} and not report.failed

    # The ledger down: nothing is deleted, and the command says so.
    async def refusing(chains: list[str]) -> None:
        raise StoreUnavailable("the delivery ledger is unavailable")

    server, stores = FakeServer(refused="none"), FakeStores()
    stores.ledger.fence = refusing
    report = await erase_customer(
        server,  # type: ignore[arg-type]
        stores,  # type: ignore[arg-type]
        Customer(customer_id="C-1"),
        really=True,
    )
    assert server.deleted == set() and stores.payloads_erased == [] and stores.answers == []
    assert report.failed and "nothing was erased" in report.failed[0]


async def test_late_runs_are_found_under_every_run_known_not_only_the_ticket_s() -> None:
    """A sub-task its orchestrator run started just before that run's deletion: walked from
    the ticket's runs alone, level by level through what visibility still lists, it was out of
    reach once the orchestrator was deleted, and stayed terminated with the customer's text."""
    from starter.erase_workflows import _descendants

    tree = {  # parent run -> its children (workflow id, run id), as visibility lists them
        "run-1": [],  # the orchestrator run, deleted already: no longer listed under the ticket
        "run-orch": [("ticket-T-1/resolution/1-writer", "run-sub")],
    }

    def list_workflows(query: str) -> Any:
        parents = [p.strip(" '") for p in query.split("IN (")[1].rstrip(")").split(",")]
        listed = [SimpleNamespace(id=w, run_id=r) for p in parents for w, r in tree.get(p, [])]

        async def each() -> Any:
            for run in listed:
                yield run

        return each()

    listed = ticket(1).model_copy(update={"child_runs": [("ticket-T-1/resolution", "run-orch")]})
    found = await _descendants(SimpleNamespace(list_workflows=list_workflows), listed)  # type: ignore[arg-type]

    assert found == [("ticket-T-1/resolution/1-writer", "run-sub")]


async def test_a_dry_run_reads_an_earlier_ledger_of_any_version_at_any_path(tmp_path: Path) -> None:
    """A "#" in the path cut the read-only mode off (SQLite created an empty file where the path
    ended), and a ledger from before version 6 has no address column to compare."""
    from shared.stores.sqlite_ledger import customer_rows_read_only

    folder = tmp_path / "data#1"
    folder.mkdir()
    path = folder / "outbox.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE deliveries (ticket_id TEXT PRIMARY KEY, customer_id TEXT)")
    conn.execute("INSERT INTO deliveries VALUES ('T-1', ' Ana@Example.com')")
    conn.commit()
    conn.close()
    before = sorted(p.name for p in tmp_path.rglob("*"))

    found = await customer_rows_read_only(path, "ana@example.com", any_case=True)

    assert found == ["T-1"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


async def test_a_ticket_id_another_customer_s_run_shares_keeps_its_stored_payloads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store owns payloads by workflow id: erasing C-1's ticket under an id another
    customer's run took since (a keyed id reused, a batch's restart) deleted that customer's
    payloads too, and their ticket failed on PayloadMissing."""
    shared = ErasedTicket(
        ticket_id="T-1",
        workflow_id="ticket-T-1",
        runs=["run-c1"],
        listed_runs=["run-c1", "run-other-customer"],
    )
    finds(monkeypatch, [shared, ticket(2)])
    stores = FakeStores()

    report = await erased_c1(stores)

    assert stores.payloads_erased == ["ticket-T-2"]
    assert report.payloads_shared == ["ticket-T-1"]
    assert report.failed == []
    dry = await erased_c1(FakeStores(), really=False)
    assert dry.payloads_shared == ["ticket-T-1"]


async def test_a_run_started_during_the_erasure_keeps_its_stored_payloads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whether an id was shared was read from the listing alone: a run of it started during the
    erasure (a redrive) lost its payloads, which the store keeps by workflow id, and failed on
    PayloadMissing (a review, 2026-12-07)."""
    finds(monkeypatch, [ticket(1), ticket(2)])
    stores = FakeStores()

    report = await erase_customer(
        FakeServer(refused="", started_meanwhile={"ticket-T-2": "run-new"}),  # type: ignore[arg-type]
        stores,  # type: ignore[arg-type]
        Customer(customer_id="C-1"),
        really=True,
    )

    assert stores.payloads_erased == ["ticket-T-1"]
    assert report.payloads_shared == ["ticket-T-2"]
    assert any("started during the erasure" in f for f in report.failed)


async def test_a_ledger_log_left_uncleared_is_cleared_by_the_next_erase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An erase whose ledger log another process kept reading says so and fails; run again, it
    deleted nothing, so it cleared nothing, and said all was done while the log still held the
    answer (a review, 2026-12-07)."""
    monkeypatch.setattr("shared.stores.sqlite_connection.LOCK_WAIT_SECONDS", 0.2)
    finds(monkeypatch, [])
    path = tmp_path / "outbox.sqlite3"
    ledger = SqliteLedger(path)
    stores = FakeStores()
    stores.ledger = ledger  # type: ignore[assignment]
    answer = "Your refund of 7Q-UNIQUE-4471 is on its way."
    mine = delivery("T-1", text=answer)
    await ledger.record(NewDelivery(**{**mine.__dict__, "customer_id": "C-1"}))
    in_log = lambda: answer.encode() in Path(f"{path}-wal").read_bytes()  # noqa: E731
    try:
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM deliveries").fetchone()  # a read under way
        first = await erased_c1(stores)
        reader.close()
        held = in_log()
        again = await erased_c1(stores)
        still = in_log()  # while the ledger is open (closing the last connection clears it)
    finally:
        await ledger.close()

    assert first.ledger_rows == ["T-1"]
    assert any("write-ahead log: the rows erased may still be in it" in f for f in first.failed)
    assert held  # the test can fail: the answer was in the log after the first run
    assert again.failed == [] and again.ledger_rows == []
    assert not still
