"""A swarm's sliding window: at most K agent calls over a list of items, a new call as soon as any
ends. A chunk child workflow runs one over its chunk (workflows/swarm.py SwarmChunkWorkflow), and
since patch "single-chunk-inline" a swarm of one chunk runs it in the swarm's own workflow.

Workflow code: it runs inside whichever workflow holds it, and decides nothing from a clock.
"""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from shared import names
    from shared.agents import AgentRole, AgentRoute, Usage, total_usage
    from shared.command_budget import GROUP_BYTES, encoded_size, fitting, utf8_size
    from shared.pipeline_config import AgentTimeouts
    from shared.swarm import InsightRequest, ItemResult, ReviewInsights, SwarmItem
    from workflows.agent_calls import call_agent, describe_failure, usage_of_failed_call

START_GROUP = 100
# Patches: groups of calls cut at the byte budget too (shared/command_budget.py; 100 long
# non-ASCII items terminated the chunk).
BYTE_BOUNDED_GROUPS = "byte-bounded-groups"
# Groups of calls sized by the items' encoded size (JSON escapes a control character as six
# bytes: 100 items of 20,000 x \x01 were 11 MB of commands and the chunk was terminated). Asked
# only when the encoded size cuts where the text's bytes did not.
ENCODED_SIZE_GROUPS = "encoded-size-groups"
# Patch: an item's next route waits for a later workflow task when the next routes this task has
# scheduled already carry FALLBACK_BYTES. The new calls are cut at the byte budget, but each item
# whose route fails schedules its next one from its own coroutine: 100 items of 20,000 Chinese
# characters failing their first route together put 6 MB of calls in one task, past the server's
# 4 MB message limit, and the swarm was terminated. Asked only when a task's next routes would
# pass the budget.
BOUNDED_FALLBACK_BURSTS = "bounded-fallback-bursts"
# What one workflow task's next routes may carry: half a group's budget, so a task's new calls
# (GROUP_BYTES) and next routes together stay under the message limit.
FALLBACK_BYTES = GROUP_BYTES // 2


class ItemWindow:
    """The window over one list of items, and the results it has so far (for progress)."""

    def __init__(self) -> None:
        # By place in the list, not by id: two items with one id each keep their result.
        self.results: dict[int, ItemResult] = {}
        # The workflow task (by its history length) whose next routes are being counted, and
        # their bytes so far (BOUNDED_FALLBACK_BURSTS).
        self._burst_task = -1
        self._burst_bytes = 0

    def done(self) -> int:
        return len(self.results)

    def failed(self) -> int:
        return sum(not r.ok for r in self.results.values())

    async def run(
        self,
        items: list[SwarmItem],
        concurrency: int,
        routes: list[AgentRoute],
        timeouts: AgentTimeouts,
        *,
        cuts_decided: bool = False,
    ) -> list[ItemResult]:
        """Every item's result, in the items' order. ``cuts_decided``: the groups are cut at
        the byte budgets without asking their patches (a swarm running its one chunk itself,
        code newer than both: its first group is started in the workflow task of its
        configuration snapshot, and a patch marker right after a local activity's marker does
        not replay reliably, workflows/ticket_patches.py PATCH_DELIVERING_STATE)."""
        pending = deque(enumerate(items))
        # A list, not a set: the order work is looked at must not depend on object addresses.
        running: list[asyncio.Task[tuple[int, ItemResult]]] = []
        while pending or running:
            # At most START_GROUP new calls per workflow task: each carries an item (up to
            # ~20 KB), and one task's commands must stay well under the 4 MB message limit.
            started_now = 0
            room = min(concurrency - len(running), START_GROUP, len(pending))
            if room > 1:
                texts = [pending[i][1].text for i in range(room)]
                fits = fitting([utf8_size(t) for t in texts])
                # Asked only when the budget cuts the group: other histories are unchanged.
                if fits < room and (cuts_decided or workflow.patched(BYTE_BOUNDED_GROUPS)):
                    room = fits
                encoded = fitting([encoded_size(t) for t in texts[:room]])
                if encoded < room and (cuts_decided or workflow.patched(ENCODED_SIZE_GROUPS)):
                    room = encoded
            while pending and started_now < room:
                place, item = pending.popleft()
                running.append(asyncio.create_task(self._one(place, item, routes, timeouts)))
                started_now += 1
            await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in [t for t in running if t.done()]:
                place, result = task.result()
                self.results[place] = result
            running = [t for t in running if not t.done()]
        return [self.results[i] for i in range(len(items))]

    async def _one(
        self, place: int, item: SwarmItem, routes: list[AgentRoute], timeouts: AgentTimeouts
    ) -> tuple[int, ItemResult]:
        # Sized only when a route fails: most items never fall back.
        next_route = lambda: self._next_route(encoded_size(item.text))  # noqa: E731
        return place, await _result(item, routes, timeouts, next_route)

    def _next_route(self, size: int) -> Awaitable[None] | None:
        """Before an item's next route: None when its call fits in what this workflow task's
        next routes may carry (the first always does), else a wait for a later task."""
        task = workflow.info().get_current_history_length()
        if task != self._burst_task:
            self._burst_task, self._burst_bytes = task, 0
        if (
            self._burst_bytes
            and self._burst_bytes + size > FALLBACK_BYTES
            and workflow.patched(BOUNDED_FALLBACK_BURSTS)
        ):
            return self._in_a_later_task(task, size)
        self._burst_bytes += size
        return None

    async def _in_a_later_task(self, task: int, size: int) -> None:
        # A later task comes: a next route scheduled in this one ends in one.
        await workflow.wait_condition(lambda: workflow.info().get_current_history_length() != task)
        waiting = self._next_route(size)
        if waiting is not None:
            await waiting


async def _result(
    item: SwarmItem,
    routes: list[AgentRoute],
    timeouts: AgentTimeouts,
    next_route: Callable[[], Awaitable[None] | None],
) -> ItemResult:
    spent: list[Usage] = []

    def failed(route: AgentRoute, err: ActivityError, following: AgentRoute | None) -> None:
        if (usage := usage_of_failed_call(err)) is not None:
            spent.append(usage)

    try:
        reply = await call_agent(
            AgentRole.INSIGHTS,
            names.ANALYZE_ITEM,
            InsightRequest(item=item),
            ReviewInsights,
            chain=routes,
            timeouts=timeouts,
            on_failure=failed,
            before_fallback=next_route,
        )
    except ActivityError as err:
        if is_cancelled_exception(err):
            raise
        return ItemResult(
            item_id=item.item_id,
            ok=False,
            error=describe_failure(err),
            usage=total_usage(spent) if spent else None,
        )
    # Every route tried is billed: what the failed ones spent, and the answer.
    return ItemResult(
        item_id=item.item_id,
        ok=True,
        output=reply.output,
        usage=total_usage([*spent, reply.usage]),
    )
