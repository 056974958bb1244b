"""What a worker says at start-up about the server's routing (shared/worker_versioning.py
routing_line), and which pollers the "is a worker polling" checks count (shared/queue_pollers.py
routed_to), read from the server's answers as protobufs. FakeTaskQueueService stands in for the
server's DescribeTaskQueue only; the real server's answers are in
tests/integration/test_worker_versioning.py."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.deployment.v1 import WorkerDeploymentOptions, WorkerDeploymentVersion
from temporalio.api.enums.v1 import TaskQueueType, WorkerVersioningMode
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueueVersioningInfo
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, DescribeTaskQueueResponse
from temporalio.service import RPCError, RPCStatusCode

from shared.queue_pollers import routed_to, unrouted_hint, workers_polling
from shared.worker_versioning import ROUTING_TIMEOUT, Routed, Versioning, routing_line

DEPLOYMENT = "ticket-agents"
MINE = Versioning(DEPLOYMENT, "b2")


def routing(
    current: str = "", ramping: str = "", percentage: float = 0.0
) -> TaskQueueVersioningInfo:
    return TaskQueueVersioningInfo(
        current_deployment_version=WorkerDeploymentVersion(
            deployment_name=DEPLOYMENT if current else "", build_id=current
        ),
        ramping_deployment_version=WorkerDeploymentVersion(
            deployment_name=DEPLOYMENT if ramping else "", build_id=ramping
        ),
        ramping_version_percentage=percentage,
    )


class FakeTaskQueueService:
    """Answers DescribeTaskQueue with ``answer`` (or raises it), and keeps what it was asked."""

    def __init__(self, answer: TaskQueueVersioningInfo | RPCError) -> None:
        self.answer = answer
        self.asked: list[tuple[DescribeTaskQueueRequest, timedelta | None]] = []

    async def describe_task_queue(
        self, request: DescribeTaskQueueRequest, timeout: timedelta | None = None, **_: Any
    ) -> DescribeTaskQueueResponse:
        self.asked.append((request, timeout))
        if isinstance(self.answer, RPCError):
            raise self.answer
        return DescribeTaskQueueResponse(versioning_info=self.answer)


class FakeClient:
    namespace = "default"

    def __init__(self, answer: TaskQueueVersioningInfo | RPCError) -> None:
        self.workflow_service = FakeTaskQueueService(answer)


def said(
    answer: TaskQueueVersioningInfo | RPCError,
    versioning: Versioning | None = MINE,
    queue: str = "tickets",
    activities: bool = False,
) -> tuple[Routed, str | None]:
    return asyncio.run(routing_line(FakeClient(answer), queue, activities, versioning))  # type: ignore[arg-type]


def test_the_current_build_takes_tasks() -> None:
    assert said(routing(current="b2")) == (
        Routed.TAKES,
        "this build is current: it takes new tasks",
    )


def test_a_ramping_build_says_its_share_and_who_takes_the_rest() -> None:
    routed, line = said(routing(current="b1", ramping="b2", percentage=10))
    assert routed is Routed.TAKES
    assert line == (
        "this build is ramping: it takes 10% of the workflows (chosen by id), build b1 the rest"
    )
    from_unversioned = said(routing(ramping="b2", percentage=25))[1]
    assert from_unversioned is not None and "the unversioned workers the rest" in from_unversioned
    # A ramp set to 0% sends it nothing.
    assert said(routing(current="b1", ramping="b2", percentage=0))[0] is Routed.IDLE


def test_unversioned_workers_take_a_ramp_back_to_them() -> None:
    assert said(routing(current="b1", percentage=20), versioning=None) == (Routed.TAKES, None)


@pytest.mark.parametrize(
    ("answer", "now"),
    [
        (routing(current="b1"), "build b1 is current"),
        (routing(), "no build is current: the unversioned workers take the tasks"),
        (routing(current="b1", ramping="b3", percentage=5), "build b1 is current"),
    ],
)
def test_a_build_neither_current_nor_ramping_is_told_how_to_make_it_current(
    answer: TaskQueueVersioningInfo, now: str
) -> None:
    routed, line = said(answer)
    assert routed is Routed.IDLE
    assert line == (
        f"this build is not current or ramping ({now}), so it takes no task until it is: "
        "`temporal worker deployment set-current-version --namespace default --deployment-name "
        "ticket-agents "
        "--build-id b2`"
    )


def test_a_build_of_the_same_id_in_another_deployment_is_not_this_one() -> None:
    other = routing(current="b2")
    other.current_deployment_version.deployment_name = "other-agents"
    assert said(other)[0] is Routed.IDLE


def test_an_unversioned_worker_is_quiet_unless_a_build_is_current_on_its_queue() -> None:
    assert said(routing(), versioning=None) == (Routed.TAKES, None)
    routed, line = said(routing(current="b1"), versioning=None, queue="llm-openai")
    assert routed is Routed.IDLE and line is not None
    assert line.startswith(
        "this worker is unversioned, but build b1 of deployment ticket-agents is current on "
        "llm-openai, so it takes no task"
    )
    assert line.endswith(
        "`temporal worker deployment set-current-version --namespace default --deployment-name "
        "ticket-agents "
        "--unversioned`"
    )


def test_the_question_is_about_the_queue_s_own_task_kind_and_waits_at_most_the_timeout() -> None:
    client = FakeClient(routing(current="b2"))
    asyncio.run(routing_line(client, "llm-openai", True, MINE))  # type: ignore[arg-type]
    request, timeout = client.workflow_service.asked[0]
    assert request.task_queue.name == "llm-openai"
    assert request.task_queue_type == TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    assert timeout == ROUTING_TIMEOUT


def test_a_server_that_cannot_say_is_a_warning_not_a_refusal() -> None:
    refused = RPCError("namespace access denied", RPCStatusCode.PERMISSION_DENIED, b"")
    routed, line = said(refused)
    assert routed is Routed.UNKNOWN
    assert line == (
        "could not tell whether the server sends ticket-agents build b2 tasks: "
        "namespace access denied"
    )


def poller(build_id: str = "", deployment: str = DEPLOYMENT) -> PollerInfo:
    mode = WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED
    if not build_id:
        mode, deployment = WorkerVersioningMode.WORKER_VERSIONING_MODE_UNVERSIONED, ""
    return PollerInfo(
        deployment_options=WorkerDeploymentOptions(
            deployment_name=deployment, build_id=build_id, worker_versioning_mode=mode
        )
    )


def test_only_the_pollers_the_server_sends_tasks_to_count_as_workers() -> None:
    assert routed_to(poller(), routing())
    assert routed_to(PollerInfo(), routing())  # an SDK that reports no versioning
    assert not routed_to(poller(), routing(current="b1"))
    assert routed_to(poller("b1"), routing(current="b1"))
    assert routed_to(poller("b2"), routing(current="b1", ramping="b2", percentage=10))
    # A build waiting to be made current, one kept for a rollback, another deployment's build.
    assert not routed_to(poller("b3"), routing(current="b1", ramping="b2", percentage=10))
    assert not routed_to(poller("b1"), routing())
    assert not routed_to(poller("b1", "other-agents"), routing(current="b1"))
    # The same rule as the workers' own line: a ramp at 0% sends nothing, a ramp back to the
    # unversioned workers sends them their share.
    assert not routed_to(poller("b2"), routing(current="b1", ramping="b2", percentage=0))
    assert routed_to(poller(), routing(current="b1", percentage=20))


class FakePollersService:
    """Answers DescribeTaskQueue with ``pollers`` under ``routing``."""

    def __init__(self, pollers: list[PollerInfo], answer: TaskQueueVersioningInfo) -> None:
        self.pollers = pollers
        self.answer = answer

    async def describe_task_queue(self, request: Any, **_: Any) -> DescribeTaskQueueResponse:
        return DescribeTaskQueueResponse(pollers=self.pollers, versioning_info=self.answer)


def test_no_worker_names_the_builds_that_poll_but_are_sent_nothing() -> None:
    client = FakeClient(routing())
    client.workflow_service = FakePollersService(  # type: ignore[assignment]
        [poller("b2"), poller("b3")], routing(current="b1")
    )
    assert not asyncio.run(workers_polling(client))  # type: ignore[arg-type]
    hint = asyncio.run(unrouted_hint(client))  # type: ignore[arg-type]
    assert hint.startswith(" (workers of build b2, b3 poll it, but the server sends them nothing")
    # Nobody polling at all: the message stays as it was.
    client.workflow_service = FakePollersService([], routing(current="b1"))  # type: ignore[assignment]
    assert asyncio.run(unrouted_hint(client)) == ""  # type: ignore[arg-type]
