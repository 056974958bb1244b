"""What the agent activities tell their provider's rate controller, counted in the worker and sent
as one signal per queue about twice a second (not one per call: a busy queue would flood the
controller's history), and the provider-queue worker that keeps that going. The first 429 or
failure after a quiet spell goes at once (``BAD_NEWS_QUIET``).

An outcome is one of: answered (the provider sent an answer, good or bad: it counts against the
provider's limit), rate-limited (a 429, with its Retry-After), failed (5xx, timeout, connection
error: what the circuit breaker counts). Requests this worker refused to send are none of them.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.queue_rate import ensure_controller, released_since
from policy.adaptive_rate import ALLOWED_MOVED
from shared import names
from shared.background import stop_background
from shared.provider_config import RateControl
from shared.rate_control import MAX_DECLARED_PER_SECOND, OutcomeReport

# How often a worker sends its counts: the controller decides once a second.
REPORT_INTERVAL: Final = timedelta(seconds=0.5)
# A 429 or a failure after this long without one is sent at once, not with the next report: the
# controller cuts on the first 429 it hears of, and every call the queue dispatches meanwhile at
# the old rate is one more. Those that follow within it wait for the interval (the controller
# holds a cut for at least its HOLD_SECONDS, 2 s, anyway), so a provider answering only 429s
# costs one extra signal per worker, not one per call. Simulated (tests/support/rate_simulation.py,
# 20 seeds, median 429 share): 5/s 2.91% -> 2.28%, 10/s 2.12% -> 1.64%, 30/s 1.72% -> 1.07%.
BAD_NEWS_QUIET: Final = timedelta(seconds=2)
# The last report, sent as the worker stops (after its drain), waits at most this long.
LAST_REPORT_SECONDS: Final = 2.0
# In the declared-only mode, an unchanged allowed rate is sent again this often (the controller
# takes a raise after ALLOWED_RAISE_TICKS windows that said so: about half a minute).
DECLARED_REFRESH: Final = timedelta(seconds=5)
# The same for a provider that declares no limit: its mode alone, a signal a minute per worker
# while calls go out (the controller has nothing else to learn from them).
MODE_REFRESH: Final = timedelta(minutes=1)
# Starting the controller (and the queue's starting rate) must not hold a worker's start for
# long when the server is slow: the reports start it later if this fails.
PREPARE_TIMEOUT: Final = timedelta(seconds=10)
RATE_LIMITED_TYPES: Final = frozenset({"ProviderRateLimited"})
FAILED_TYPES: Final = frozenset(
    {"ProviderUnavailable", "ProviderOverloaded", "ProviderTimeout", "ProviderConnectionError"}
)

log = logging.getLogger(__name__)


class OutcomeReporter:
    """One provider queue's counts in this worker, sent to its controller."""

    def __init__(
        self,
        client: Client,
        provider_queue: str,
        controller_queue: str,
        start_rate: float,
        cool_down_seconds: float,
        headroom: float = 1.0,
        mode: RateControl = "adaptive",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.provider_queue = provider_queue
        self._controller_queue = controller_queue
        self._start_rate = start_rate
        self._cool_down = cool_down_seconds
        # The share of a declared limit the queue may use (the provider's rate_limit_headroom).
        self._headroom = headroom
        self._mode: RateControl = mode
        # The allowed rate last sent in the declared-only mode, and when (monotonic seconds).
        self._sent_allowed: float | None = None
        self._sent_at = 0.0
        # When the declared mode's last report without a limit went out (monotonic seconds).
        self._mode_sent_at = -math.inf
        self._counts = OutcomeReport()
        self._clock = clock
        # When this worker last saw a 429 or a failure, and whether one is waiting to go at once.
        self._last_bad_news = -math.inf
        self._bad_news = asyncio.Event()
        # When this reporter (its worker) began, and whether a release since then stopped its
        # controller: a worker of a newer configuration wants none (``flush``).
        self._began = datetime.now(UTC)
        self._stood_down = False

    def record(
        self,
        error: BaseException | None,
        declared_rate: float | None = None,
        started: datetime | None = None,
    ) -> None:
        """One agent call ended: ``error`` is what it raised, None when it returned;
        ``declared_rate`` the limit the provider declares (requests/s), of which the queue is
        allowed the headroom's share; ``started`` when the call's attempt began (the server's
        clock), which the breaker's probe needs of a failure."""
        allowed = None
        if declared_rate is not None and 0 < declared_rate <= MAX_DECLARED_PER_SECOND:
            allowed = declared_rate * self._headroom
        if error is None:
            self._add(OutcomeReport(answered=1), allowed)
        elif not isinstance(error, ApplicationError):
            return  # not a provider outcome (cancelled, a bug): neither limit nor health
        elif error.type in RATE_LIMITED_TYPES:
            wait = error.next_retry_delay.total_seconds() if error.next_retry_delay else None
            self._add(OutcomeReport(rate_limited=1, retry_after=wait), allowed)
        elif error.type in FAILED_TYPES:
            starts = [started.timestamp()] if started is not None else []
            self._add(OutcomeReport(failed=1, failed_started=starts), allowed)
        else:
            self._add(OutcomeReport(answered=1), allowed)  # refused or invalid: it answered

    def pending(self) -> OutcomeReport:
        """The counts not sent yet."""
        return self._counts

    def _add(self, outcome: OutcomeReport, allowed: float | None) -> None:
        update = {"mode": self._mode, "allowed_rate": allowed, "cool_down_seconds": self._cool_down}
        self._counts = self._counts.merged(outcome.model_copy(update=update))
        if (outcome.rate_limited or outcome.failed) and self._mode != "declared":
            now = self._clock()
            if now - self._last_bad_news >= BAD_NEWS_QUIET.total_seconds():
                self._bad_news.set()
            self._last_bad_news = now

    def urgent(self) -> bool:
        """Whether bad news after a quiet spell is waiting to be sent at once."""
        return self._bad_news.is_set()

    async def prepare(self) -> None:
        await ensure_controller(
            self._client,
            self.provider_queue,
            self._controller_queue,
            self._start_rate,
            self._cool_down,
            mode=self._mode,
        )

    def declared_report(self, report: OutcomeReport, now: float) -> OutcomeReport | None:
        """In the declared-only mode the controller needs the allowed rate, not the counts: a
        report goes out when it changed, and again every ``DECLARED_REFRESH`` (so a raise can
        hold for the windows the controller waits for); for a provider that declares nothing,
        the mode alone, every ``MODE_REFRESH``. A busy queue then
        costs its controller a signal every few seconds, not two per worker per second.
        ``now``: seconds on a monotonic clock."""
        allowed = report.allowed_rate
        if allowed is None:
            # The mode alone, so a controller the adaptive mode left (its rate still on the
            # queue) learns of the switch and removes the rate; again every MODE_REFRESH while
            # calls go out: in a rolling deploy the old workers' adaptive reports, merged with
            # or sent after a single one, kept the controller adaptive for good.
            if report.empty() or now - self._mode_sent_at < MODE_REFRESH.total_seconds():
                return None
            self._mode_sent_at = now
            return report
        last = self._sent_allowed
        changed = last is None or abs(allowed - last) > ALLOWED_MOVED * last
        due = now - self._sent_at >= DECLARED_REFRESH.total_seconds()
        if not (changed or due):
            return None
        self._sent_allowed, self._sent_at = allowed, now
        return report

    async def flush(self) -> None:
        report, self._counts = self._counts, OutcomeReport()
        if self._mode == "declared":
            if (declared := self.declared_report(report, self._clock())) is None:
                return
            report = declared
        elif report.empty():
            return
        handle = self._client.get_workflow_handle(names.rate_controller_id(self.provider_queue))
        try:
            await handle.signal(names.RATE_REPORT_SIGNAL, report)
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            # The controller is gone. Stopped by a worker started since, configured without it
            # (a rolling deploy off the adaptive limit): left stopped, this report dropped.
            # Otherwise (terminated by an operator, never started): started with this report.
            if self._stood_down or await released_since(
                self._client, self.provider_queue, self._began
            ):
                if not self._stood_down:
                    log.warning(
                        "%s: its rate controller was stopped by a worker that started after this "
                        "one, configured without it; this worker no longer starts it",
                        self.provider_queue,
                    )
                self._stood_down = True
                return
            await ensure_controller(
                self._client,
                self.provider_queue,
                self._controller_queue,
                self._start_rate,
                self._cool_down,
                report,
                mode=self._mode,
            )

    async def run(self, interval: float = REPORT_INTERVAL.total_seconds()) -> None:
        """Send the counts every ``interval`` seconds, and at once for bad news after a quiet
        spell, until cancelled; a failed send is logged and its counts dropped (the next window
        carries on)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bad_news.wait(), interval)
            self._bad_news.clear()
            try:
                await self.flush()
            except Exception as err:  # any: the sender must outlive one bad send
                # (It caught RPCError and RuntimeError only: a payload store busy or down ended
                # the task, and the controller heard no more 429s from this worker, unsaid.)
                log.warning(
                    "rate report for %s not sent: %s: %s",
                    self.provider_queue,
                    type(err).__name__,
                    err,
                )


class ReportingWorker(Worker):
    """A provider queue's worker that starts the queue's controller before it polls and sends
    its outcome counts while it runs."""

    def __init__(self, *args: Any, reporter: OutcomeReporter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reporter = reporter
        self._preparing = False

    @property
    def is_running(self) -> bool:
        # Running from the moment run() is called: a process asked to stop while the controller
        # is being started shuts this worker down too (worker.run_until_stopped asks only
        # running workers; shutdown before the poll loop starts is allowed and ends it).
        return self._preparing or super().is_running

    async def run(self) -> None:
        self._preparing = True
        try:
            await asyncio.wait_for(self._reporter.prepare(), PREPARE_TIMEOUT.total_seconds())
        except Exception as err:  # any: the queue is polled all the same
            # (Another error, the payload store's, left before the SDK's run: the worker never
            # polled, and its shutdown waited for a run that never began, for ever.)
            log.warning(
                "rate controller of %s not started: %s: %s",
                self._reporter.provider_queue,
                type(err).__name__,
                err,
            )
        finally:
            self._preparing = False
        sender = asyncio.create_task(self._reporter.run())
        try:
            await super().run()
        finally:
            await stop_background(sender)
            try:
                # Bounded: this comes after the drain, and a slow server took the rest of the
                # container's stop_grace_period with it (the client's own retries: ~40 s).
                await asyncio.wait_for(self._reporter.flush(), LAST_REPORT_SECONDS)
            except Exception as err:  # the last counts; the worker's own end goes on
                log.warning(
                    "last rate report for %s not sent: %s: %s",
                    self._reporter.provider_queue,
                    type(err).__name__,
                    err,
                )
