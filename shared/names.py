"""Names that cross process boundaries: task queues, workflow and activity types, handler names.

Workflows call activities by these names rather than by function reference, so workflow code never
imports the activities package (and with it the provider SDKs).
"""

from typing import Final

# Workflows and the non-LLM activities (knowledge base, configuration) run here.
TICKETS_TASK_QUEUE: Final = "tickets"
# Delivery of answers to customers runs on its own queue, polled with bounded concurrency: a
# destination that hangs holds delivery slots only, never the agents or the workflows.
DELIVERY_TASK_QUEUE: Final = "delivery"


def delivery_task_queue(tickets_queue: str) -> str:
    """The delivery queue that goes with a workflow's task queue: ``delivery`` for the tickets
    queue; a test that runs its own workflow queue gets its own delivery queue beside it."""
    if tickets_queue == TICKETS_TASK_QUEUE:
        return DELIVERY_TASK_QUEUE
    return f"{tickets_queue}-delivery"


def llm_task_queue(provider: str) -> str:
    """One queue per LLM provider, so the server can rate-limit each provider for all workers."""
    return f"llm-{provider}"


TICKET_WORKFLOW: Final = "TicketWorkflow"
ORCHESTRATOR_WORKFLOW: Final = "OrchestratorWorkflow"
SUBTASK_WORKFLOW: Final = "SubTaskWorkflow"
SWARM_WORKFLOW: Final = "SwarmWorkflow"
SWARM_CHUNK_WORKFLOW: Final = "SwarmChunkWorkflow"
BATCH_WORKFLOW: Final = "BatchWorkflow"

# Agent activities (one LLM call each), run on the provider's queue.
CLASSIFY_TICKET: Final = "classify_ticket"
TRIAGE_TICKET: Final = "triage_ticket"
DRAFT_RESOLUTION: Final = "draft_resolution"
VALIDATE_RESOLUTION: Final = "validate_resolution"
PLAN_TASK: Final = "plan_task"
RUN_SUBTASK: Final = "run_subtask"
SYNTHESIZE_RESULTS: Final = "synthesize_results"
ANALYZE_ITEM: Final = "analyze_item"
# Every activity that is one agent call (on its provider's task queue, with the agent timeouts).
AGENT_ACTIVITIES: Final = frozenset(
    {
        CLASSIFY_TICKET,
        TRIAGE_TICKET,
        DRAFT_RESOLUTION,
        VALIDATE_RESOLUTION,
        PLAN_TASK,
        RUN_SUBTASK,
        SYNTHESIZE_RESULTS,
        ANALYZE_ITEM,
    }
)

# Non-LLM activities, run on the tickets queue (delivery: on the delivery queue).
LOAD_PIPELINE_CONFIG: Final = "load_pipeline_config"
SEARCH_KNOWLEDGE_BASE: Final = "search_knowledge_base"
DELIVER_RESPONSE: Final = "deliver_response"
# Delivery's first attempt, as a local activity next to the workflow (tickets since lean-history).
DELIVER_RESPONSE_NOW: Final = "deliver_response_now"
# The ledger's receipt of a ticket's answer if it went out: asked, as a local activity, by a ticket
# whose cancellation hid how its queued delivery ended (tickets since cancel-reads-ledger).
FIND_SENT_DELIVERY: Final = "find_sent_delivery"
CHECK_TICKETS: Final = "check_tickets"
RESTART_TICKET: Final = "restart_ticket"
# The refused starts of one batch group together (batches since grouped-restarts).
RESTART_TICKETS: Final = "restart_tickets"

# Ticket workflow handlers.
STATUS_QUERY: Final = "status"
REVIEW_SIGNAL: Final = "review"
SUBMIT_REVIEW_UPDATE: Final = "submit_review"
# Orchestrator, swarm and batch.
PROGRESS_QUERY: Final = "progress"
TICKET_SETTLED_SIGNAL: Final = "ticket_settled"
# From an orchestrator run cancelled on its own to its ticket: what it spent (a cancellation
# carries no details).
ORCHESTRATION_SPENT_SIGNAL: Final = "orchestration_spent"
# From a sub-task cancelled on its own to its orchestrator run: the same, for the run to count.
SUBTASK_SPENT_SIGNAL: Final = "subtask_spent"

TICKET_WORKFLOW_ID_PREFIX: Final = "ticket-"


def ticket_workflow_id(ticket_id: str) -> str:
    """The workflow id is derived from the ticket id: one ticket, one workflow, ever."""
    return f"{TICKET_WORKFLOW_ID_PREFIX}{ticket_id}"


def ticket_id_from_workflow_id(workflow_id: str) -> str:
    return workflow_id.removeprefix(TICKET_WORKFLOW_ID_PREFIX)


# Error type of an agent whose output stays invalid after a repair round: the workflow hands the
# ticket to a person instead of failing it.
INVALID_OUTPUT_ERROR: Final = "InvalidModelOutput"
# Error type of a delivery the destination refused for good (a 4xx answer, a rejected recipient,
# no address): the ticket ends in DELIVERY_FAILED with the reason, for a person to act on.
DELIVERY_REJECTED_ERROR: Final = "DeliveryRejected"
# Error type of a delivery attempt that failed for now (unreachable, 5xx, 429): retried.
DELIVERY_UNAVAILABLE_ERROR: Final = "DeliveryUnavailable"
# Error type of a local delivery attempt refused because the worker's delivery slots are all
# busy: the workflow puts the delivery on the delivery queue instead.
DELIVERY_BUSY_ERROR: Final = "DeliveryBusy"
# Error type of a delivery attempt that found another attempt sending the same answer right now
# (its claim in the ledger still holds): retried, and the retry finds the answer sent.
DELIVERY_IN_PROGRESS_ERROR: Final = "DeliveryInProgress"
# A delivery whose ticket was erased while it ran (DeliveryLedger.fence): never retried.
TICKET_ERASED_ERROR: Final = "TicketErased"
# Error type of a delivery attempt with too little of its time left to send and record the
# answer (it sent nothing): retried. No word from the destination, so no Retry-After to honour
# and no reason to pause the channel's local attempts (DeliveryUnavailable's effects).
DELIVERY_OUT_OF_TIME_ERROR: Final = "DeliveryOutOfTime"
# Error type of a local delivery attempt whose answer went out but whose ledger could not record
# it (the database down for seconds): the workflow queues the delivery saying so (its details
# carry the answer's idempotency key), and the queued attempt records it without sending again.
DELIVERY_SENT_UNRECORDED_ERROR: Final = "DeliverySentUnrecorded"
# The first detail of a delivery's refusal for good (DeliveryRejected) when the channel could
# not tell whether the answer arrived (a mail server that went silent after taking it); the
# answer's idempotency key follows. `redrive` reads the doubt from the history, where it stays
# when the ledger could not record it (the database down at that moment): a resend then could
# answer the customer twice.
DELIVERY_MAY_HAVE_ARRIVED: Final = "may-have-arrived"

# The rate controller of a provider queue (workflows/rate_controller.py): one per queue, fed by
# the agent activities' outcome reports. Controllers run on a queue of their own, so a backlog
# of ticket workflow tasks never delays their reaction to a 429.
RATE_CONTROL_TASK_QUEUE: Final = "rate-control"
RATE_CONTROLLER_WORKFLOW: Final = "ProviderRateController"
RATE_REPORT_SIGNAL: Final = "outcomes"
RATE_STATE_QUERY: Final = "rate_state"
SET_QUEUE_RATE: Final = "set_queue_rate"


RATE_CONTROLLER_ID_PREFIX: Final = "rate-controller-"

# Payload garbage collection on a schedule (starter/gc_schedule.py): the schedule starts the
# workflow on the tickets queue, whose workers hold the payload store; each run's id is the
# schedule's id and the time it was due.
PAYLOAD_GC_WORKFLOW: Final = "PayloadGc"
COLLECT_PAYLOADS: Final = "collect_payloads"
PAYLOAD_GC_SCHEDULE_ID: Final = "payload-gc"

# Workflow ids the project gives its own workflows: an id given for a run (`plan`, `swarm`,
# `batch --id`) may not start with one, or it would take a ticket's, a controller's or a
# scheduled collection's place.
RESERVED_ID_PREFIXES: Final = (
    TICKET_WORKFLOW_ID_PREFIX,
    RATE_CONTROLLER_ID_PREFIX,
    f"{PAYLOAD_GC_SCHEDULE_ID}-",
)


def rate_controller_id(provider_queue: str) -> str:
    """A fixed id per provider queue: every worker reports to the same controller."""
    return f"{RATE_CONTROLLER_ID_PREFIX}{provider_queue}"


def rate_control_task_queue(tickets_queue: str) -> str:
    """The controllers' queue that goes with a workflow queue (as ``delivery_task_queue``)."""
    if tickets_queue == TICKETS_TASK_QUEUE:
        return RATE_CONTROL_TASK_QUEUE
    return f"{tickets_queue}-rate-control"
