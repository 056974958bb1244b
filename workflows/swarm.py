"""SwarmWorkflow: one agent over many items, at most K at once, safe at tens of thousands.

Items are split into chunks; each chunk is a child workflow running a sliding window of K agent
calls (a new call starts as soon as any finishes: workflows/swarm_window.py). Chunks run one after
another, so K is the whole swarm's concurrency, and the parent continues as new every few chunks:
no history, parent or child, grows anywhere near Temporal's limits. A swarm of one chunk (since
patch "single-chunk-inline") runs its window itself: its history then holds what the chunk's
would have. Each result is validated against the agent's output model (by the activity, before
it returns); a failed item is recorded with its reason.
"""

import asyncio
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import (
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from policy.stats import percentile
    from shared import names
    from shared.agents import AgentRole
    from shared.command_budget import chunk_size_fitting, encoded_size, utf8_size
    from shared.swarm import (
        MAX_SWARM_ITEMS,
        ItemFailure,
        ItemResult,
        SwarmChunkInput,
        SwarmChunkResult,
        SwarmItem,
        SwarmProgress,
        SwarmResult,
        SwarmState,
    )
    from shared.validation import problems
    from workflows.agent_calls import config_snapshot
    from workflows.run_chain import memo_again, this_run_is_later
    from workflows.started_input import (
        MISSING,
        extra_arguments,
        extra_problem,
        read_list,
        read_payload,
        refusal,
    )
    from workflows.swarm_window import ENCODED_SIZE_GROUPS, ItemWindow


# A child cancelled on its own (an operator cancelling one chunk) fails its items instead of the
# whole swarm.
CHILD_CANCEL_FAILS_ITEMS = "child-cancel-fails-items"
# A chunk whose id a workflow still running holds (an earlier run's, after a reset or a rerun
# under the swarm's id: the parent-close policy terminates it a moment later) fails its items,
# with the reason, instead of the whole swarm and every other chunk's results. Asked only then.
CHUNK_ID_TAKEN_FAILS_ITEMS = "chunk-id-taken-fails-items"
# Chunks sized for every route an item may be tried on (each route's call carries the item into
# the chunk's history; the client sized them for one). Asked only when it cuts the chunks.
ROUTE_BOUNDED_CHUNKS = "route-bounded-chunks"
# A swarm's first run asks this before its configuration snapshot and takes the sizing
# patches' paths (route-bounded-chunks, encoded-size-groups) without asking them after it.
SIZES_DECIDED_FIRST = "sizes-decided-first"
# A run given an earlier run's results (SwarmState.carried) leaves those items out of its chunks.
# Asked only when it was given some (no marker, and the same commands, for every other run), and
# first of all: a run an older worker began without it goes on analysing every item.
KEEPS_CARRIED = "keeps-carried-results"
# A swarm started with more than MAX_SWARM_ITEMS items (by a client other than the CLI, which
# refuses them) fails at once, saying why. Asked only then, in its first run: every other run
# records no marker, and a swarm an older worker began with more goes on to its end (asked at
# each run, it failed at its next continue-as-new under a new worker, its chunks paid for).
REFUSES_TOO_MANY = "refuses-too-many-items"
# A cancel request that a chunk absorbed (it completed as the request came, and the SDK handed
# the swarm its results instead of the cancellation) ends the swarm before its next chunk; it
# went on starting, and paying for, every chunk left. Asked only when a cancel request has come.
ABSORBED_CANCEL_ENDS_SWARM = "absorbed-cancel-ends-swarm"
# A swarm of one chunk runs its window itself instead of in a child: the child's start, its first
# workflow task and its result's hop back were ~40 ms of a 2.5 s swarm (bench swarm_window) and
# one more billable action. Asked at the first run's start, before the configuration snapshot
# (as sizes-decided-first), by a swarm whose items fit one chunk of its settings; the sizing
# after the snapshot may still cut it into several, which run as children as before.
SINGLE_CHUNK_INLINE = "single-chunk-inline"
# A swarm started (not continued as new by itself: workflows/run_chain.py) with a later run's
# routes and timeouts already in its state, by a client other than the CLI, is a first run all
# the same: it took the routes it was given (any provider and model, on the deployment's keys)
# and skipped the size refusal, the configuration snapshot and the chunk sizing. Asked only by
# such a run.
STARTED_RUN_IS_FIRST = "started-run-is-first"
# How long an item id may be to be named in an invalid item's result.
MAX_NAMED_ID = 100


def parse_item(raw: Any, place: int) -> SwarmItem | ItemResult:
    """One item of the swarm's input, validated here rather than by the data converter, whose
    refusal of one item failed the swarm's workflow task over and over (no item ever ran): the
    item, or its failed result naming its place and the fields."""
    try:
        return SwarmItem.model_validate(raw)
    except ValidationError as err:
        given = raw.get("item_id") if isinstance(raw, dict) else None
        named = given if isinstance(given, str) and 0 < len(given) <= MAX_NAMED_ID else None
        return ItemResult(
            item_id=named or f"#{place + 1}",
            ok=False,
            error=f"item {place + 1} is not a valid item: {problems(err)}",
        )


def _lengths(field: str) -> tuple[int, int]:
    """The shortest and longest string the model's field takes (read once, from the model)."""
    limits = SwarmItem.model_fields[field].metadata
    low = next(m.min_length for m in limits if getattr(m, "min_length", None) is not None)
    high = next(m.max_length for m in limits if getattr(m, "max_length", None) is not None)
    return low, high


ITEM_ID_LENGTH = _lengths("item_id")
TEXT_LENGTH = _lengths("text")


def _fits(value: Any, lengths: tuple[int, int]) -> bool:
    return type(value) is str and lengths[0] <= len(value) <= lengths[1]


def item_text(raw: Any) -> str | None:
    """The text of an input item ``parse_item`` reads as an item, found without building one
    (None for one it would fail): the input comes from JSON, so an item is a mapping whose
    ``item_id`` and ``text`` are strings of the model's lengths. Sizing a swarm's chunks reads
    every item's text; building 100,000 items for it took 1.8 s of the first workflow task,
    against the SDK's 2 s deadlock limit."""
    if not isinstance(raw, dict):
        return None
    text = raw.get("text")
    return text if _fits(raw.get("item_id"), ITEM_ID_LENGTH) and _fits(text, TEXT_LENGTH) else None


@workflow.defn(name=names.SWARM_CHUNK_WORKFLOW)
class SwarmChunkWorkflow:
    @workflow.init
    def __init__(self, request: SwarmChunkInput) -> None:
        self._total = len(request.items)
        self._window = ItemWindow()

    @workflow.run
    async def run(self, request: SwarmChunkInput) -> SwarmChunkResult:
        results = await self._window.run(
            request.items, request.concurrency, request.routes, request.timeouts
        )
        return SwarmChunkResult(results=results)

    @workflow.query(name=names.PROGRESS_QUERY)
    def progress(self) -> SwarmProgress:
        return SwarmProgress(
            total=self._total, done=self._window.done(), failed=self._window.failed()
        )


@workflow.defn(name=names.SWARM_WORKFLOW)
class SwarmWorkflow:
    @workflow.init
    @extra_arguments
    def __init__(self, items: Any = None, state: RawValue = MISSING, *extra: Any) -> None:
        # Read here, not by the data converter: an input it refused (from a program other than
        # the CLI) failed the swarm's first workflow task on every attempt; now the run fails,
        # naming the fields (workflows/started_input.py).
        items, items_problem = read_list(items, "items")
        more = extra_problem(extra, "two: the items and the swarm's state")
        # With more arguments than it takes, none was decoded as its type (extra_arguments).
        read_state, state_problem = None, None
        if more is None:
            read_state, state_problem = read_payload(SwarmState, state, "state")
        self._refused_input = refusal("swarm", [items_problem, state_problem, more])
        state = read_state or SwarmState()
        self._total = len(items)
        # Each chunk's items are read (validated) when the chunk starts: at each run's start,
        # all of a swarm of 100,000 took 1.8 s, against the SDK's 2 s deadlock limit. Reading
        # is pure, so when it happens changes no command.
        self._raw = items
        self._state = state
        self._running_chunk: str | None = None
        self._inline: ItemWindow | None = None  # the window a swarm of one chunk runs itself

    @workflow.run
    @extra_arguments
    async def run(self, items: Any = None, state: RawValue = MISSING, *extra: Any) -> SwarmResult:
        if self._refused_input is not None:
            raise self._refused_input
        items, state = self._raw, self._state
        kept = state.carried if state.carried and workflow.patched(KEEPS_CARRIED) else {}
        first_run = state.routes is None or state.timeouts is None
        # A run made a first run below with chunks already done (a workflow retry of a later
        # run, which gets that run's input): their cut stays, so no item is skipped or repeated.
        resumes = False
        if (
            not first_run
            and not this_run_is_later(state.continued_from)
            and workflow.patched(STARTED_RUN_IS_FIRST)
        ):
            first_run = True  # the routes and timeouts given are replaced by the snapshot's
            resumes = state.next_chunk > 0
        if first_run and len(items) > MAX_SWARM_ITEMS and workflow.patched(REFUSES_TOO_MANY):
            raise ApplicationError(
                f"the swarm has {len(items):,} items; a swarm takes at most "
                f"{MAX_SWARM_ITEMS:,}: split the input and run each part as a swarm of its own",
                type="SwarmTooLarge",
                non_retryable=True,
            )
        if first_run:
            # Asked before the snapshot (a local activity), not after it: a patch marker right
            # after a local activity's marker in one workflow task does not replay reliably
            # (workflows/ticket_patches.py PATCH_DELIVERING_STATE). A run started under it takes
            # the two sizing patches' paths below without asking them.
            sized_first = workflow.patched(SIZES_DECIDED_FIRST)
            inline = (
                not resumes
                and len(items) <= state.settings.chunk_size
                and workflow.patched(SINGLE_CHUNK_INLINE)
            )
            config = await config_snapshot()
            state.routes = config.routes[AgentRole.INSIGHTS]
            state.timeouts = config.agent_timeouts
            if not resumes:
                self._size_chunks(items, state, sized_first)
        else:
            inline = False  # a later run: never a swarm of one chunk
        settings = state.settings
        chunks = -(-len(items) // settings.chunk_size)
        inline = inline and chunks == 1
        chunks_this_run = 0
        while state.next_chunk < chunks:
            if workflow.cancellation_reason() is not None and workflow.patched(
                ABSORBED_CANCEL_ENDS_SWARM
            ):
                raise asyncio.CancelledError()
            if chunks_this_run >= settings.chunks_per_run:
                # Items stay one payload; only the state changes. (Stored again at each run:
                # encryption's random nonce makes each copy's bytes, and so its key, new.)
                state.totals.runs += 1
                if kept:
                    self._drop_carried_done(state, kept)
                state.continued_from = workflow.info().run_id
                workflow.continue_as_new(args=[items, state], memo=memo_again())
            n = state.next_chunk
            first = n * settings.chunk_size
            chunk = [
                parse_item(raw, first + i)
                for i, raw in enumerate(self._raw[first : first + settings.chunk_size])
            ]
            # An item an earlier run analysed keeps its result (none without one: the same
            # commands as before this field).
            valid = [i for i in chunk if isinstance(i, SwarmItem) and i.item_id not in kept]
            if inline:
                results = await self._inline_results(valid, state) if valid else []
            else:
                self._running_chunk = f"{workflow.info().workflow_id}/chunk-{n}"
                results = (
                    await self._chunk_results(n, valid, len(chunk), len(items), state)
                    if valid
                    else []
                )
            # In the input's order: an invalid item's failed result where the item was.
            ran = iter(results)
            state.totals.results.extend(
                i if isinstance(i, ItemResult) else kept.get(i.item_id) or next(ran) for i in chunk
            )
            state.next_chunk += 1
            chunks_this_run += 1
        self._running_chunk = None
        return self._finish(state, kept)

    async def _inline_results(self, valid: list[SwarmItem], state: SwarmState) -> list[ItemResult]:
        """The one chunk's items run by this workflow's own window (single-chunk-inline)."""
        assert state.routes is not None and state.timeouts is not None
        self._inline = ItemWindow()
        try:
            return await self._inline.run(
                valid,
                state.settings.concurrency,
                state.routes,
                state.timeouts,
                cuts_decided=True,
            )
        finally:
            # Its results go into the totals in the same activation: never counted twice.
            self._inline = None

    async def _chunk_results(
        self, n: int, chunk: list[SwarmItem], places: int, total: int, state: SwarmState
    ) -> list[ItemResult]:
        """The chunk's items run by a child workflow; their results, in order. A chunk that
        failed as a whole (terminated, timed out, cancelled on its own) fails its items, with
        the reason; the work done in other chunks is kept."""
        try:
            return (await self._chunk(n, chunk, places, total, state)).results
        except ChildWorkflowError as err:
            if is_cancelled_exception(err) and (
                workflow.cancellation_reason() is not None
                or not workflow.patched(CHILD_CANCEL_FAILS_ITEMS)
            ):
                raise  # the swarm itself is cancelled (or an older run's rule)
            reason = f"{self._running_chunk} failed: {err.cause or err}"
            return [ItemResult(item_id=i.item_id, ok=False, error=reason) for i in chunk]
        except WorkflowAlreadyStartedError:
            if not workflow.patched(CHUNK_ID_TAKEN_FAILS_ITEMS):
                raise
            reason = (
                f"{self._running_chunk} was not started: a workflow with its id is still running "
                "(an earlier run's chunk, after a reset or a rerun); once it has ended, run "
                "these items as a swarm of their own (`swarm FILE --id` a new id) to analyse them"
            )
            return [ItemResult(item_id=i.item_id, ok=False, error=reason) for i in chunk]

    async def _chunk(
        self, n: int, chunk: list[SwarmItem], places: int, total: int, state: SwarmState
    ) -> SwarmChunkResult:
        """``places``: how many of the input's items the chunk covers (its invalid ones
        included), for its summary."""
        assert state.routes is not None and state.timeouts is not None
        settings = state.settings
        return await workflow.execute_child_workflow(
            names.SWARM_CHUNK_WORKFLOW,
            SwarmChunkInput(
                items=chunk,
                concurrency=settings.concurrency,
                routes=state.routes,
                timeouts=state.timeouts,
            ),
            id=self._running_chunk,
            result_type=SwarmChunkResult,
            static_summary=f"items {n * settings.chunk_size + 1}-"
            f"{n * settings.chunk_size + places} of {total}",
        )

    def _drop_carried_done(self, state: SwarmState, kept: dict[str, ItemResult]) -> None:
        """Before continuing as new: the earlier run's results that no item left needs leave
        ``carried`` (``kept`` is that dict), counted in ``totals.reused``. Each was carried on
        twice, in ``carried`` and in the results: the last run of a swarm of 20,000 items run
        again decoded 39,000 results at its start, ~1.4 s of the SDK's 2 s deadlock limit.
        Data of the next run's input only, no command: a run replayed continues as new as it
        did, whichever state it carries."""
        first_left = state.next_chunk * state.settings.chunk_size
        # An item's id as its model reads it (a string, as given; an invalid item's id may be
        # anything, a list too, and is never looked up in ``kept``): a key that may match an
        # item left stays.
        ids_left = {
            item_id
            for raw in self._raw[first_left:]
            if isinstance(raw, dict) and isinstance(item_id := raw.get("item_id"), str)
        }
        done = {item_id for item_id in kept if item_id not in ids_left}
        if not done:
            return
        state.totals.reused += sum(r.ok and r.item_id in done for r in state.totals.results)
        for item_id in done:
            del kept[item_id]

    def _finish(self, state: SwarmState, kept: dict[str, ItemResult]) -> SwarmResult:
        settings = state.settings
        summary = summarise(state.totals.results, state.totals.runs)
        summary.reused = state.totals.reused + sum(
            r.item_id in kept for r in state.totals.results if r.ok
        )
        failure_rate = summary.failed / summary.total if summary.total else 0.0
        if failure_rate > settings.max_failure_rate:
            reasons = "; ".join(f"{f.item_id}: {f.reason}" for f in summary.failures[:5])
            raise ApplicationError(
                f"{summary.failed} of {summary.total} items failed "
                f"({over(failure_rate, settings.max_failure_rate)} allowed); "
                f"first failures: {reasons}",
                summary.model_dump(mode="json", exclude={"outputs"}),
                type="SwarmFailed",
                non_retryable=True,
            )
        return summary

    @staticmethod
    def _size_chunks(items: list[Any], state: SwarmState, sized_first: bool) -> None:
        """The first run's chunk size: cut so that a chunk's calls on every route fit its history
        and messages (carried on: every run cuts alike)."""
        assert state.routes is not None
        texts = [t for raw in items if (t := item_text(raw)) is not None]
        routes = len(state.routes)
        fitted = chunk_size_fitting(
            [utf8_size(t) for t in texts], state.settings.chunk_size, routes
        )
        if fitted < state.settings.chunk_size and (
            sized_first or workflow.patched(ROUTE_BOUNDED_CHUNKS)
        ):
            state.settings.chunk_size = fitted
        encoded = chunk_size_fitting(
            [encoded_size(t) for t in texts], state.settings.chunk_size, routes
        )
        if encoded < state.settings.chunk_size and (
            sized_first or workflow.patched(ENCODED_SIZE_GROUPS)
        ):
            state.settings.chunk_size = encoded

    @workflow.query(name=names.PROGRESS_QUERY)
    def progress(self) -> SwarmProgress:
        results = self._state.totals.results
        window = self._inline
        return SwarmProgress(
            total=self._total,
            done=len(results) + (window.done() if window else 0),
            failed=sum(not r.ok for r in results) + (window.failed() if window else 0),
            running_chunk=self._running_chunk,
        )


def over(rate: float, limit: float) -> str:
    """Says "11%, more than the 10%", with as many decimals as it takes for the two to differ
    (10.5% of items failing is not "10%, more than the 10%")."""
    for decimals in range(4):
        said, allowed = f"{rate:.{decimals}%}", f"{limit:.{decimals}%}"
        if said != allowed:
            break
    return f"{said}, more than the {allowed}"


def summarise(results: list[ItemResult], runs: int) -> SwarmResult:
    latencies = [r.usage.latency_ms for r in results if r.ok and r.usage]
    usages = [r.usage for r in results if r.usage]
    failed = [r for r in results if not r.ok]
    return SwarmResult(
        total=len(results),
        succeeded=len(results) - len(failed),
        failed=len(failed),
        success_rate=(len(results) - len(failed)) / len(results) if results else 1.0,
        failures=[ItemFailure(item_id=r.item_id, reason=r.error or "unknown") for r in failed],
        latency_ms_p50=percentile(latencies, 50),
        latency_ms_p95=percentile(latencies, 95),
        latency_ms_p99=percentile(latencies, 99),
        tokens=sum(u.input_tokens + u.output_tokens for u in usages),
        cost_usd=round(sum(u.cost_usd for u in usages), 8),
        runs=runs,
        outputs=results,
    )
