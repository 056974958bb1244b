"""`python -m starter run` (what `make run` does), from a cold start and again on the same data."""

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from shared import operations as ops
from shared.encryption.keyring import create_key_file
from starter import main_job
from starter.errors import CliError
from tests.integration.conftest import Stack
from tests.support.processes import (
    PROJECT_ROOT,
    descendants,
    environment,
    free_port,
    kill_group,
    port_is_open,
    run_cli,
    start_cli,
)
from tests.support.tickets import make_ticket

pytestmark = pytest.mark.integration

SAMPLES = PROJECT_ROOT / "samples" / "tickets.jsonl"


def sample_ids() -> list[str]:
    return [
        json.loads(line)["ticket_id"] for line in SAMPLES.read_text().splitlines() if line.strip()
    ]


def embedded_ports() -> list[str]:
    """Free ports for the embedded server's Web UI and its codec server. Both are named: the
    codec server's default (the UI's port + 1) is not known to be free, and with two test
    processes another server or connection took it between the job's check and its bind."""
    return ["--ui-port", str(free_port()), "--codec-port", str(free_port())]


@pytest.mark.timeout(300)
def test_the_main_job_starts_its_own_server_processes_the_samples_and_stops_everything(
    tmp_path: Path,
) -> None:
    port, ports = free_port(), embedded_ports()
    env = environment(f"127.0.0.1:{port}", tmp_path / "data")

    first = run_cli(env, "run", *ports, timeout=120)

    assert first.code == 0, first.output
    assert f"Starting the embedded Temporal server on 127.0.0.1:{port}" in first.stdout
    assert "Created an encryption key for ticket payloads" in first.stdout
    for ticket_id in sample_ids():
        assert ticket_id in first.stdout
    assert f"Report: {len(sample_ids())} ticket(s) on this server" in first.stdout
    assert "AWAITING_REVIEW" in first.stdout and "COMPLETED" in first.stdout
    assert not port_is_open(port), "the embedded server was left running"
    assert "worker: stopped" in (tmp_path / "data" / "worker.log").read_text()

    # An endpoint set without its key: the worker warns, in its log, and make run says it too.
    unused = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    second = run_cli(env | unused, "run", "--json", *ports, timeout=120)

    assert second.code == 0, second.output
    payload = json.loads(second.stdout)
    assert payload["report"]["earlier"] == len(sample_ids())
    assert "Created an encryption key" not in second.stdout + second.stderr
    assert "warning (worker) OPENAI_BASE_URL is set, but OPENAI_API_KEY is not" in second.stderr
    assert f"{len(sample_ids())} were already on the server" in second.stderr
    states = {t["ticket_id"]: t["state"] for t in payload["tickets"]}
    assert set(states) == set(sample_ids())
    assert sum(s == "AWAITING_REVIEW" for s in states.values()) >= 3
    assert not port_is_open(port)

    # The key file gone (moved, deleted): the job made a new key, which read none of the
    # tickets and would have encrypted every new one. It stops before making one.
    key_file = tmp_path / "data" / "encryption-keys.json"
    key_file.rename(tmp_path / "moved-away.json")

    third = run_cli(env, "run", *ports, timeout=120)

    assert third.code == 1, third.output
    assert "holds encrypted tickets (ticket " in third.stderr, third.output
    assert f"their key file {key_file} is missing: put it back" in third.stderr
    assert not key_file.exists() and "Created an encryption key" not in third.stdout
    assert not port_is_open(port)

    # A key file with another key (the old one retired too early): the tickets are named as
    # unreadable, and the job reports on, where it stopped at the first one.
    create_key_file(key_file)

    fourth = run_cli(env, "run", *ports, timeout=120)

    assert fourth.code == 3, fourth.output
    assert f"{len(sample_ids())} ticket(s) of this file could not be read: " in fourth.stdout
    assert f"Report: {len(sample_ids())} ticket(s) on this server" in fourth.stdout
    assert f"{len(sample_ids())} ticket(s) could not be decrypted here" in fourth.stdout
    assert not port_is_open(port)


def test_the_main_job_uses_a_server_that_already_answers(stack: Stack, tmp_path: Path) -> None:
    tickets = tmp_path / "two.jsonl"
    tickets.write_text(
        '{"id": "MJ-1", "subject": "Where is my order?", "body": "No tracking number yet."}\n'
        '{"id": "MJ-2", "subject": "Refund", "body": "What is your refund policy?"}\n'
    )
    result = run_cli(stack.env, "run", "--file", str(tickets), timeout=90)
    assert result.code == 0, result.output
    assert f"Using the Temporal server that answers at {stack.server.address}" in result.stdout
    assert "Starting the embedded" not in result.stdout
    assert port_is_open(stack.server.port), "a server the job did not start must keep running"

    # The same ids with other content: other tickets, not submitted, said so, exit 3.
    tickets.write_text(
        '{"id": "MJ-1", "subject": "Another question", "body": "Entirely different words."}\n'
        '{"id": "MJ-2", "subject": "Refund", "body": "What is your refund policy?"}\n'
    )
    again = run_cli(stack.env, "run", "--file", str(tickets), timeout=90)
    assert again.code == 3, again.output
    assert "conflict MJ-1: an earlier ticket on this server has this id" in again.output
    assert "1 were already on the server" in again.output


def _kept_running_job(tmp_path: Path, ticket_id: str) -> tuple[subprocess.Popen[str], int]:
    """`run --keep-running` on an embedded server of its own, once it says it keeps running
    (the job and the server's port)."""
    port = free_port()
    env = environment(f"127.0.0.1:{port}", tmp_path / "data")
    tickets = tmp_path / "one.jsonl"
    tickets.write_text(json.dumps({"id": ticket_id, "subject": "Invoice", "body": "Where?"}) + "\n")
    job = start_cli(env, "run", "--file", str(tickets), "--keep-running", *embedded_ports())
    assert job.stdout is not None and job.stderr is not None
    seen: list[str] = []
    for line in job.stdout:
        seen.append(line)
        if "keep running for inspection" in line:
            return job, port
    job.wait(30)
    raise AssertionError(
        f"the job ended (exit {job.returncode}) before keeping the server running:\n"
        + "".join(seen)
        + job.stderr.read()
    )


@pytest.mark.parametrize(
    ("stop", "ticket"),
    [(signal.SIGTERM, "K-1"), (signal.SIGHUP, "K-5")],
    ids=["sigterm", "terminal-closed"],
)
def test_a_signal_stops_a_kept_running_job_and_everything_it_started(
    tmp_path: Path, stop: signal.Signals, ticket: str
) -> None:
    # SIGHUP (the terminal closed) ended the job at once, and its embedded server, in a process
    # group of its own, ran on unowned with its port and database lock.
    job, port = _kept_running_job(tmp_path, ticket)
    try:
        assert port_is_open(port)
        job.send_signal(stop)  # to the job only, as a supervisor (or a closed terminal) would
        assert job.wait(60) == 0
    finally:
        kill_group(job)
    assert not port_is_open(port), "the embedded server outlived the job"
    assert "worker: stopped" in (tmp_path / "data" / "worker.log").read_text()


def test_ctrl_c_stops_a_kept_running_job_without_calling_the_worker_dead(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group: the worker stops too, maybe before
    the job notices its own signal; that is a stop asked for, not "the worker exited"."""
    job, port = _kept_running_job(tmp_path, "K-3")
    try:
        # The server is out of the terminal's reach: the job stops it after its worker.
        [server] = [
            pid
            for pid in descendants(job.pid)
            if b"start-dev" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        ]
        assert os.getpgid(server) != os.getpgid(job.pid)
        os.killpg(job.pid, signal.SIGINT)  # the foreground group, as a terminal does
        code = job.wait(60)
        said = job.stderr.read() if job.stderr else ""
    finally:
        kill_group(job)
    assert code == 0, said
    assert "the worker exited" not in said, said
    assert not port_is_open(port), "the embedded server outlived the job"


def _child_worker(parent: int) -> int:
    """The pid of the `python -m worker` process ``parent`` started."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == parent and b"worker" in cmdline:
            return int(stat.parent.name)
    raise AssertionError(f"no worker process under {parent}")


def test_a_kept_running_job_whose_worker_was_told_to_stop_stops_cleanly(tmp_path: Path) -> None:
    """The Ctrl-C that reached the whole group reached the worker first (a loaded machine): it
    stopped as asked, exit 0, and the job called it dead (the race the test above meets only
    sometimes; here the worker alone gets the signal)."""
    job, port = _kept_running_job(tmp_path, "K-4")
    try:
        os.kill(_child_worker(job.pid), signal.SIGINT)
        code = job.wait(60)
        said = (job.stdout.read() if job.stdout else "") + (job.stderr.read() if job.stderr else "")
    finally:
        kill_group(job)
    assert code == 0, said
    assert "The worker stopped; stopping the server" in said, said
    assert not port_is_open(port), "the embedded server outlived the job"


def test_a_kept_running_job_stops_when_its_worker_dies_and_says_so(tmp_path: Path) -> None:
    """It went on saying "Server and worker keep running" over a worker that was gone."""
    job, port = _kept_running_job(tmp_path, "K-2")
    try:
        os.kill(_child_worker(job.pid), signal.SIGKILL)
        assert job.wait(60) == 1
        said = job.stderr.read() if job.stderr else ""
        out = job.stdout.read() if job.stdout else ""
    finally:
        kill_group(job)
    assert "the worker was killed by signal 9 (SIGKILL)" in said, said
    assert "The worker is gone; stopping the server" in out, out
    assert not port_is_open(port), "the embedded server outlived the job"


async def test_the_main_job_refuses_a_server_holding_tickets_it_cannot_read(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another checkout's `make run` on the same port: the job took that server, made a key of
    its own, started a worker on its queues (every ticket task it took failed) and then failed
    reading the tickets. Now it stops first, with nothing made or started."""
    ticket = make_ticket(ticket_id=f"FOREIGN-{uuid.uuid4().hex[:6]}")
    await ops.start_ticket(dev_env.client, ticket, task_queue=f"nobody-{uuid.uuid4().hex[:6]}")
    address = dev_env.client.service_client.config.target_host
    monkeypatch.setenv("TICKETS_DATA_DIR", str(tmp_path / "other-checkout"))
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)  # the job sets it: restored after the test
    for name in ("TICKETS_ENCRYPTION_KEYS", "TICKETS_ENCRYPTION_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(CliError, match=f"the Temporal server at {address} holds tickets encrypted"):
        await main_job._refuse_a_server_of_other_keys(address)
    assert not (tmp_path / "other-checkout" / "encryption-keys.json").exists()
    # (A server whose tickets this ring reads is taken: the test above, on the stack's server.)
