"""What a plan run that was cancelled or terminated had spent, read from the histories: its own
agent calls (the planner's, the synthesizer's) and those of every sub-task it started. A run
that ends so carries no usage in its result or failure (a cancellation has no details), and
`plan --wait` said only "was cancelled" after calls that were paid for."""

from collections.abc import Sequence
from typing import Any

from temporalio.client import Client

from shared import names
from shared.agents import Usage
from shared.history_references import run_events
from workflows.agent_failures import spent_in

# The agent calls of a plan run and its sub-tasks.
PLAN_CALLS = frozenset({names.PLAN_TASK, names.RUN_SUBTASK, names.SYNTHESIZE_RESULTS})


async def spent_by_run(client: Client, workflow_id: str, run_id: str) -> list[Usage]:
    """Every agent call's usage in the run and in the sub-tasks it started (answered calls, and
    failed ones that say what they spent), read from their histories."""
    events = await run_events(client, workflow_id, run_id)
    spent = await _calls_spent(client, events)
    for event in events:
        if event.HasField("child_workflow_execution_started_event_attributes"):
            child = event.child_workflow_execution_started_event_attributes.workflow_execution
            spent += await _calls_spent(
                client, await run_events(client, child.workflow_id, child.run_id)
            )
    return spent


async def _calls_spent(client: Client, events: Sequence[Any]) -> list[Usage]:
    convert = client.data_converter
    calls: set[int] = set()  # the scheduled events of the plan's agent calls
    spent: list[Usage] = []
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            if event.activity_task_scheduled_event_attributes.activity_type.name in PLAN_CALLS:
                calls.add(event.event_id)
        elif event.HasField("activity_task_completed_event_attributes"):
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id in calls:
                [reply] = await convert.decode(completed.result.payloads, [dict[str, Any]])
                spent.append(Usage.model_validate(reply["usage"]))
        else:
            for kind in ("activity_task_failed", "activity_task_timed_out"):
                if event.HasField(f"{kind}_event_attributes"):
                    ended = getattr(event, f"{kind}_event_attributes")
                    if ended.scheduled_event_id in calls:
                        error = await convert.decode_failure(ended.failure)
                        if (usage := spent_in(error)) is not None:
                            spent.append(usage)
    return spent


def spent_words(spent: list[Usage]) -> str:
    """What ``spent`` adds to "the plan run X was cancelled"."""
    if not spent:
        return ": none of its agent calls had answered, nothing is known to be spent"
    tokens = sum(u.input_tokens + u.output_tokens for u in spent)
    cost = sum(u.cost_usd for u in spent)
    return (
        f": its agent calls and its sub-tasks' had spent {tokens:,} tokens, ${cost:.4f} "
        f"({len(spent):,} call(s) that said what they spent; the sub-tasks still running ended "
        "with it)"
    )
