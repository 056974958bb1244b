"""The worker's log carries no customer text from failures (shared/log_privacy.py): a real
worker on the dev server fails an activity with an SMTP rejection quoting the customer's
address, and fails a workflow task with an error quoting it; the SDK's lines about both keep
the ids and the exception's type, never the address (nor a traceback, whose last line repeats
it). The SDK's other lines that quote an error are checked in the shape the SDK writes them."""

import asyncio
import dataclasses
import logging
import sys
import threading
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any

import httpx
import httpx2
import pytest
import temporalio.converter
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as worker_process
from shared import log_privacy
from shared.encryption.codec import EncryptionCodec
from shared.encryption.keyring import KeyRing
from tests.support.keys import make_key_ring

CUSTOMER = "jane.roe@example.com"
WAIT_SECONDS = 30.0


@activity.defn(name="LogPrivacySendEmail")
async def send_email(to: str) -> None:
    raise ApplicationError(
        f"550 5.1.1 <{to}>: Recipient address rejected", type="DeliveryRejected", non_retryable=True
    )


@workflow.defn(name="LogPrivacyDelivery", sandboxed=False)
class Delivery:
    @workflow.run
    async def run(self, to: str) -> str:
        try:
            await workflow.execute_activity(
                send_email,
                to,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except Exception as err:
            return type(err).__name__
        return "sent"


@workflow.defn(name="LogPrivacyBrokenTask", sandboxed=False)
class BrokenTask:
    @workflow.run
    async def run(self, to: str) -> None:
        raise RuntimeError(f"cannot read the ticket of {to}")  # fails the task, retried


class Captured(logging.Handler):
    """Every line as the worker's log would show it (message, then any traceback); ``seen``
    is set when a line holding ``until`` arrives."""

    def __init__(self, until: str) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []
        self.until = until
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.lines.append(text)
        if self.until in text:
            self.seen.set()


@pytest.fixture
def filtered() -> Iterator[None]:
    """The filter as the worker installs it, removed again after the test."""
    levels = {name: logging.getLogger(name).level for name in log_privacy.QUIET_LIBRARY_LOGGERS}
    log_privacy.install()
    yield
    for name in log_privacy.SDK_FAILURE_LOGGERS:
        logging.getLogger(name).removeFilter(log_privacy._FILTER)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[Captured]:
    handler = Captured(request.param)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("filtered")
@pytest.mark.parametrize("captured", ["Completing activity as failed"], indirect=True)
async def test_a_failed_activity_is_logged_with_its_type_and_without_its_message(
    dev_env: WorkflowEnvironment, task_queue: str, captured: Captured
) -> None:
    async with Worker(
        dev_env.client, task_queue=task_queue, workflows=[Delivery], activities=[send_email]
    ):
        outcome = await dev_env.client.execute_workflow(
            Delivery.run, CUSTOMER, id=f"log-privacy-{uuid.uuid4()}", task_queue=task_queue
        )

    assert outcome == "ActivityError"
    [line] = [text for text in captured.lines if "Completing activity as failed" in text]
    assert line.startswith("WARNING temporalio.activity: Completing activity as failed (")
    assert "'activity_type': 'LogPrivacySendEmail'" in line
    assert "ApplicationError(DeliveryRejected): message and traceback withheld" in line
    assert not [text for text in captured.lines if "jane.roe" in text]
    assert "Traceback" not in "\n".join(captured.lines)


@pytest.mark.usefixtures("filtered")
@pytest.mark.parametrize("captured", ["Failed activation on workflow"], indirect=True)
async def test_a_failed_workflow_task_is_logged_with_its_type_and_without_its_message(
    dev_env: WorkflowEnvironment, task_queue: str, captured: Captured
) -> None:
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[BrokenTask]):
        handle = await dev_env.client.start_workflow(
            BrokenTask.run, CUSTOMER, id=f"log-privacy-{uuid.uuid4()}", task_queue=task_queue
        )
        try:
            assert await asyncio.to_thread(captured.seen.wait, WAIT_SECONDS)
        finally:
            await handle.terminate("the test has seen the failed task")

    failed = [text for text in captured.lines if "Failed activation on workflow" in text]
    assert failed[0].startswith("WARNING temporalio.worker._workflow_instance: Failed activation")
    assert f"ID {handle.id}" in failed[0]
    assert "[RuntimeError: message and traceback withheld" in failed[0]
    assert not [text for text in captured.lines if "jane.roe" in text]
    assert "Traceback" not in "\n".join(captured.lines)


@pytest.mark.usefixtures("filtered")
@pytest.mark.parametrize("captured", ["activation on workflow"], indirect=True)
async def test_a_workflow_task_a_worker_cannot_decrypt_is_logged_naming_the_key_it_lacks(
    dev_env: WorkflowEnvironment, task_queue: str, captured: Captured
) -> None:
    # The ticket was started by a client with a key the worker does not have (a key retired
    # too early): the log is where an operator looks, and the key id is all it needs to say.
    def client_with(ring: KeyRing) -> Client:
        converter = dataclasses.replace(
            temporalio.converter.default(), payload_codec=EncryptionCodec(ring)
        )
        return Client(dev_env.client.service_client, data_converter=converter)

    starter, worker_client = (
        client_with(make_key_ring("k-old")),
        client_with(make_key_ring("k-new")),
    )
    async with Worker(worker_client, task_queue=task_queue, workflows=[BrokenTask]):
        handle = await starter.start_workflow(
            BrokenTask.run, CUSTOMER, id=f"log-privacy-{uuid.uuid4()}", task_queue=task_queue
        )
        try:
            assert await asyncio.to_thread(captured.seen.wait, WAIT_SECONDS)
        finally:
            await handle.terminate("the test has seen the failed task")

    [line] = [text for text in captured.lines if "activation on workflow" in text][:1]
    assert "UnknownEncryptionKey" in line, line
    assert (
        "a payload is encrypted with key 'k-old', which is not in this process's key ring" in line
    )
    assert "keys k-new" in line and log_privacy.WITHHELD not in line
    assert not [text for text in captured.lines if "jane.roe" in text]


@pytest.mark.usefixtures("filtered")
@pytest.mark.parametrize("captured", ["never"], indirect=True)
def test_the_sdks_lines_that_quote_an_error_keep_only_what_comes_before_it(
    captured: Captured,
) -> None:
    sdk_activity = logging.getLogger("temporalio.activity")
    sdk_workflow = logging.getLogger("temporalio.worker._workflow_instance")
    try:
        raise ValueError(f"bad address {CUSTOMER}") from KeyError(CUSTOMER)
    except ValueError as err:
        # temporalio/worker/_activity.py, when encoding the failure itself fails.
        sdk_activity.exception(f"Exception handling failed, original error: {err}")
        # The workflow event loop's default exception handler: the task's repr on line two.
        sdk_workflow.error(
            f"Task exception was never retrieved\nfuture: <Task exception={err!r}>",
            exc_info=(type(err), err, err.__traceback__),
        )
    sdk_activity.warning(
        f"Completing as failure during heartbeat with error of type {ValueError}: {CUSTOMER}"
    )
    sdk_activity.warning("Completing as cancelled")  # no error: as it is

    assert captured.lines == [
        f"ERROR temporalio.activity: Exception handling failed [ValueError <- KeyError: "
        f"{log_privacy.WITHHELD}]",
        f"ERROR temporalio.worker._workflow_instance: Task exception was never retrieved "
        f"[ValueError <- KeyError: {log_privacy.WITHHELD}]",
        "WARNING temporalio.activity: Completing as failure during heartbeat with error of type "
        f"<class 'ValueError'> [{log_privacy.WITHHELD}]",
        "WARNING temporalio.activity: Completing as cancelled",
    ]


def test_the_worker_installs_the_filter_where_it_configures_logging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``python -m worker``'s main(), up to where it would start running workers."""
    logger = logging.getLogger("temporalio.activity")
    logger.removeFilter(log_privacy._FILTER)
    installed: list[bool] = []

    def instead_of_running(main: Coroutine[Any, Any, int]) -> int:
        main.close()
        installed.append(
            any(isinstance(f, log_privacy.WithholdFailureText) for f in logger.filters)
        )
        return 0

    monkeypatch.setattr(worker_process.asyncio, "run", instead_of_running)
    try:
        assert worker_process.main([]) == 0
    finally:
        for name in log_privacy.SDK_FAILURE_LOGGERS:
            logging.getLogger(name).removeFilter(log_privacy._FILTER)

    assert installed == [True]


def test_the_sdks_own_trouble_keeps_its_message_and_traceback() -> None:
    # "Failed completing activity task" is the SDK's trouble (an RPC to the server), not a
    # ticket's: its text is nowhere else, and an operator needs it.
    logger = logging.getLogger("temporalio.worker._activity")
    try:
        raise RuntimeError("connection reset by the frontend")
    except RuntimeError:
        record = logger.makeRecord(
            logger.name,
            logging.ERROR,
            __file__,
            1,
            "Failed completing activity task",
            (),
            sys.exc_info(),
        )
    assert log_privacy.WithholdFailureText().filter(record)
    assert record.getMessage() == "Failed completing activity task"
    assert record.exc_info is not None


@pytest.mark.usefixtures("filtered")
async def test_a_worker_at_debug_level_logs_no_request_url_or_body_of_the_libraries() -> None:
    # `python -m worker --log-level INFO` set every library's level: httpx logged each request's
    # full URL (a Slack webhook's secret path), the provider SDKs each prompt at DEBUG.
    handler = Captured("never")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        transport = httpx.MockTransport(lambda request: httpx.Response(200))
        async with httpx.AsyncClient(transport=transport) as client:
            await client.post("https://hooks.slack.com/services/T0/B0/SECRETPATH", json={})
        # httpx2, which the provider SDKs and the webhook use, logs on loggers of its own.
        transport2 = httpx2.MockTransport(lambda request: httpx2.Response(200))
        async with httpx2.AsyncClient(transport=transport2) as client2:
            await client2.post("https://hooks.slack.com/services/T0/B0/SECRETPATH2?api-key=k")
        logging.getLogger("openai").debug("Request options: %s", {"json_data": "the ticket"})
        logging.getLogger("shared.anything").info("the project's own line")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    assert not [line for line in handler.lines if "SECRETPATH" in line or "the ticket" in line]
    assert any("the project's own line" in line for line in handler.lines)
