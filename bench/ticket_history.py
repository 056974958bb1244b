"""What `bench ticket_cost` reads from a workflow's history: its cost (events, workflow tasks,
activities, local activities, upserts, markers, billable actions) and its shape (what each
workflow task asked of Temporal, for the bare workflow to repeat)."""

from collections import Counter
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from starter.delivery_history import LOCAL_ACTIVITY_MARKER

# The search attribute Temporal's own patch markers upsert: exempt from billing.
CHANGE_VERSION = "TemporalChangeVersion"


@dataclass
class HistoryCost:
    events: int
    workflow_tasks: int
    activities: int
    local_activities: int
    upserts: int
    markers: int
    billable: int

    def row(self, name: str) -> str:
        return (
            f"| {name} | {self.events} | {self.workflow_tasks} | {self.activities} | "
            f"{self.local_activities} | {self.upserts} | {self.markers} | {self.billable} |"
        )


def _type(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def _is_local_activity(event: HistoryEvent) -> bool:
    return event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER


def billable_actions(history: WorkflowHistory) -> int:
    """Temporal Cloud's actions as its documentation lists them, from the history: the start;
    each activity attempt; all local activities of one workflow task together; each upsert of
    search attributes (not one of TemporalChangeVersion alone, which is exempt); timers;
    signals sent and received; child workflows started. Memo updates and markers of patches
    are not actions; queries (one per status query a client sends) come on top."""
    actions = 0
    tasks_with_local_activities = set()
    last_task = 0
    for event in history.events:
        kind = _type(event)
        if kind == "WORKFLOW_TASK_COMPLETED":
            last_task = event.event_id
        if kind in (
            "WORKFLOW_EXECUTION_STARTED",
            "TIMER_STARTED",
            "WORKFLOW_EXECUTION_SIGNALED",
            "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
            "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        ):
            actions += 1
        elif kind == "ACTIVITY_TASK_STARTED":
            actions += event.activity_task_started_event_attributes.attempt
        elif kind == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if set(fields.indexed_fields) - {CHANGE_VERSION}:
                actions += 1
        elif kind == "MARKER_RECORDED" and _is_local_activity(event):
            tasks_with_local_activities.add(last_task)
    return actions + len(tasks_with_local_activities)


def history_cost(history: WorkflowHistory) -> HistoryCost:
    kinds = Counter(_type(e) for e in history.events)
    local = sum(_is_local_activity(e) for e in history.events if _type(e) == "MARKER_RECORDED")
    return HistoryCost(
        events=len(history.events),
        workflow_tasks=kinds["WORKFLOW_TASK_COMPLETED"],
        activities=kinds["ACTIVITY_TASK_SCHEDULED"],
        local_activities=local,
        upserts=kinds["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"],
        markers=kinds["MARKER_RECORDED"],
        billable=billable_actions(history),
    )


def ticket_shape(history: WorkflowHistory) -> list[list[int]]:
    """What each workflow task of ``history`` asked of Temporal: ``[patches, local activities,
    upserts, activities]`` (a patch's own upsert of TemporalChangeVersion is the patch's; the
    memo is left out)."""
    shape: list[list[int]] = []
    for event in history.events:
        kind = _type(event)
        if kind == "WORKFLOW_TASK_COMPLETED":
            shape.append([0, 0, 0, 0])
        elif not shape:
            continue
        elif kind == "MARKER_RECORDED":
            shape[-1][1 if _is_local_activity(event) else 0] += 1
        elif kind == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            shape[-1][2] += bool(set(fields.indexed_fields) - {CHANGE_VERSION})
        elif kind == "ACTIVITY_TASK_SCHEDULED":
            shape[-1][3] += 1
    return shape
