"""The worker's visibility gauges keep counting through failures, and say when they last
succeeded (shared/worker_gauges.py). The client and the meter are fakes standing in for the
visibility count and the SDK's meter; the real ones: tests/integration/test_observability.py."""

import asyncio
import itertools
from datetime import timedelta
from typing import Any

from shared import metrics
from shared.payload_gc_watch import CollectionWatch
from shared.worker_gauges import VisibilityGauges
from shared.worker_versioning import Routed


class FakeGauge:
    def __init__(self) -> None:
        self.values: list[tuple[float, dict[str, str] | None]] = []
        self.was_set = asyncio.Event()

    def set(self, value: float, attributes: dict[str, str] | None = None) -> None:
        self.values.append((value, attributes))
        self.was_set.set()


class FakeMeter:
    def __init__(self) -> None:
        self.gauges: dict[str, FakeGauge] = {}

    def create_gauge(self, name: str, description: str = "", unit: str = "") -> FakeGauge:
        return self.gauges.setdefault(name, FakeGauge())

    create_gauge_float = create_gauge


class FlakyCountsFake:
    """count_workflows fails with ``errors`` one after the other, then answers 3."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)

    async def count_workflows(self, query: str) -> Any:
        if self.errors:
            raise self.errors.pop(0)

        class Count:
            count = 3

        return Count()


async def test_a_count_failing_with_any_error_is_tried_again_and_freshness_is_reported() -> None:
    meter, client = FakeMeter(), FlakyCountsFake(ValueError("refused query"), KeyError("x"))
    gauges = VisibilityGauges(
        client,  # type: ignore[arg-type]
        meter,  # type: ignore[arg-type]
        interval=timedelta(0),
        clock=lambda: 1_700_000_000.0,
    )
    loop = asyncio.create_task(gauges.run())
    try:
        await asyncio.wait_for(meter.gauges[metrics.GAUGES_UPDATED].was_set.wait(), timeout=10)
    finally:
        loop.cancel()

    assert meter.gauges[metrics.GAUGES_UPDATED].values[0] == (1_700_000_000.0, None)
    assert meter.gauges[metrics.REVIEW_OVERDUE].values[0] == (3, None)


class QueriesFake:
    """count_workflows answers 2 and keeps the queries it was asked."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def count_workflows(self, query: str) -> Any:
        self.queries.append(query)

        class Count:
            count = 2

        return Count()


async def test_tickets_in_an_agent_state_past_15_minutes_are_counted_from_entering_it() -> None:
    meter, client = FakeMeter(), QueriesFake()
    gauges = VisibilityGauges(
        client,  # type: ignore[arg-type]
        meter,  # type: ignore[arg-type]
        clock=lambda: 1_700_000_000.0,  # 2023-11-14T22:13:20Z
    )
    await gauges.update()

    assert meter.gauges[metrics.STALLED_WITH_AGENTS].values == [(2, None)]
    [stalled] = [q for q in client.queries if "StartTime" in q and "'NEW'" in q]
    assert "(TicketState = 'NEW' AND StartTime < '2023-11-14T21:58:20Z')" in stalled
    assert (
        "TicketState IN ('CLASSIFIED', 'TRIAGED', 'RESOLVING', 'RESOLVED', 'VALIDATED')" in stalled
    )
    assert "TicketStateSince < '2023-11-14T21:58:20Z'" in stalled
    assert "AWAITING_REVIEW" not in stalled and "DELIVERING" not in stalled


async def test_answers_in_delivering_past_30_minutes_are_counted_from_entering_it() -> None:
    meter, client = FakeMeter(), QueriesFake()
    gauges = VisibilityGauges(
        client,  # type: ignore[arg-type]
        meter,  # type: ignore[arg-type]
        clock=lambda: 1_700_000_000.0,  # 2023-11-14T22:13:20Z
    )
    await gauges.update()

    assert meter.gauges[metrics.QUEUED_PAST_30M].values == [(2, None)]
    [queued] = [q for q in client.queries if "DELIVERING" in q and "TicketStateSince" in q]
    assert "TicketStateSince < '2023-11-14T21:43:20Z'" in queued


class FakeRoutingProbe:
    """Answers, in turn, what the server would say of the worker's routing."""

    queue = "tickets"

    def __init__(self, *answers: Routed | Exception) -> None:
        self.answers = list(answers)

    async def ask(self, client: Any) -> tuple[Routed, str | None]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer, "could not tell" if answer is Routed.UNKNOWN else None


async def test_whether_the_worker_takes_tasks_is_a_gauge_left_as_it_was_when_unknown() -> None:
    meter = FakeMeter()
    probe = FakeRoutingProbe(Routed.TAKES, Routed.IDLE, Routed.UNKNOWN, Routed.TAKES)
    ticks = itertools.count(100.0, 100.0)  # the routing stamp, then the counts', each update
    gauges = VisibilityGauges(
        QueriesFake(),  # type: ignore[arg-type]
        meter,  # type: ignore[arg-type]
        clock=lambda: next(ticks),
        routing=probe,  # type: ignore[arg-type]
    )
    for _ in range(4):
        await gauges.update()
    queue = {"queue": "tickets"}
    assert meter.gauges[metrics.WORKER_TAKES_TASKS].values == [(1, queue), (0, queue), (1, queue)]
    # Stamped only when the server answered: the alert leaves out an answer it stopped giving.
    checked = [value for value, _ in meter.gauges[metrics.ROUTING_CHECKED].values]
    assert checked == [100.0, 300.0, 600.0]


async def test_a_probe_that_raises_leaves_the_counts_to_go_on() -> None:
    meter = FakeMeter()
    gauges = VisibilityGauges(
        QueriesFake(),  # type: ignore[arg-type]
        meter,  # type: ignore[arg-type]
        clock=lambda: 1_700_000_000.0,
        routing=FakeRoutingProbe(RuntimeError("bridge gone")),  # type: ignore[arg-type]
    )
    await gauges.update()
    assert meter.gauges[metrics.WORKER_TAKES_TASKS].values == []
    assert meter.gauges[metrics.GAUGES_UPDATED].values == [(1_700_000_000.0, None)]


async def test_without_a_probe_the_gauge_is_not_set() -> None:
    meter = FakeMeter()
    await VisibilityGauges(QueriesFake(), meter).update()  # type: ignore[arg-type]
    assert meter.gauges[metrics.WORKER_TAKES_TASKS].values == []


class CollectionWatchFake:
    """Stands for watch_collection: answers in turn, an exception raised."""

    def __init__(self, *answers: CollectionWatch | Exception) -> None:
        self.answers = list(answers)
        self.asked = 0

    async def __call__(self, client: object) -> CollectionWatch:
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_the_payload_collection_is_watched_once_a_minute_and_kept_when_unknown() -> None:
    meter, now = FakeMeter(), [1_000.0]
    watch = CollectionWatchFake(
        CollectionWatch(86_400.0, 900.0), RuntimeError("server away"), CollectionWatch(0.0, 0.0)
    )
    gauges = VisibilityGauges(
        QueriesFake(),  # type: ignore[arg-type]
        meter,  # type: ignore[arg-type]
        clock=lambda: now[0],
        collection=watch,
    )
    for at in (1_000.0, 1_015.0, 1_060.0, 1_075.0, 1_120.0):  # the loop's rounds, 15 s apart
        now[0] = at
        await gauges.update()

    # Asked at 1,000 s, then not before a minute had passed; the failed answer at 1,060 s left
    # the gauges as they were and was asked again a minute later, not at the next round (a
    # check that keeps failing asked four times a minute, logging each).
    assert watch.asked == 3
    assert meter.gauges[metrics.PAYLOAD_GC_EVERY].values == [(86_400.0, None), (0.0, None)]
    assert meter.gauges[metrics.PAYLOAD_GC_CURRENT_SINCE].values == [(900.0, None), (0.0, None)]
    # When the server last answered: 0 from the start (never), then each answer's time.
    assert meter.gauges[metrics.PAYLOAD_GC_CHECKED].values == [
        (0.0, None),
        (1_000.0, None),
        (1_120.0, None),
    ]
    # The counts went on every round.
    assert len(meter.gauges[metrics.GAUGES_UPDATED].values) == 5
