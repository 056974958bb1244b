"""The ticket workflow's patches: each change of a released TicketWorkflow's commands, named,
with why it was made and on which path it is asked (docs/versioning.md lists them with the
histories that replay each side). Names and rules only: workflows/ticket.py asks them."""

from datetime import timedelta

from shared import names

# Complex tickets get their first draft from an orchestrator run. A ticket started before this
# change replays the single-draft path (and only complex tickets ever ask).
PATCH_ORCHESTRATED_RESOLUTION = "orchestrated-resolution"

# A reviewer's rework of a complex ticket with no draft yet (its first draft stopped at the
# budget or failed) goes to the resolver with the reviewer's notes: the orchestrator took it
# before, without the notes, and stopped at the budget check at once, so the ticket came back
# to review with no draft however often the person asked. Asked only on that path.
PATCH_REWORK_DRAFTS_WITH_NOTES = "rework-drafts-with-notes"

# A rework whose agent call failed on every route goes back to the reviewer with the latest
# draft and the reason, instead of failing the ticket. Asked only on that path.
PATCH_REWORK_FAILURE = "rework-failure-back-to-review"
REWORK_AGENT_ACTIVITIES = frozenset({names.DRAFT_RESOLUTION, names.VALIDATE_RESOLUTION})

# The SLA runs from when the ticket came in (its workflow's start), not from triage: calls
# before triage may wait out rate limits for hours, and an Urgent ticket triaged two hours late
# got a deadline three hours after the customer wrote. A deadline from intake can be past
# already (it escalates at once: other commands), so the patch is asked only when triage came
# more than SLA_FROM_INTAKE_AFTER after the start; sooner, the two deadlines are the same minute.
PATCH_SLA_FROM_INTAKE = "sla-from-intake"
SLA_FROM_INTAKE_AFTER = timedelta(minutes=1)

# One patch for every change of this version, so a new ticket pays for one marker, not one per
# patch (each costs two history events the first time it is asked: the marker and the upsert of
# TemporalChangeVersion). A ticket started under it:
# - takes every earlier patch's new path without asking it (orchestrated-resolution,
#   delivery-queue, review-final-deadline, illegal-transition-tells-batch);
# - looks up the knowledge base as a local activity (no activity task and no workflow task of
#   its own);
# - tries delivery first as a local activity, and queues it only when that fails for now;
# - upserts its search attributes only when they change across a wait: not the NEW its starter
#   already set, not TicketEscalated=false, not a state the same workflow task leaves again
#   (TRIAGED before the lookup, VALIDATED before a local delivery).
# A ticket started before replays as it ran. See docs/versioning.md and docs/performance.md.
PATCH_LEAN_HISTORY = "lean-history"

# A ticket that fails on an illegal transition (a bug) tells its batch it failed: before, it
# held its place in the batch's window until the batch's ten-minute check. Asked only on that
# path, so no other history changes.
PATCH_ILLEGAL_TRANSITION_TELLS_BATCH = "illegal-transition-tells-batch"

# The next version after lean-history, asked at the start in its place (a new ticket records
# this one marker, which implies lean-history's paths): a ticket whose first delivery attempt
# failed for now moves to DELIVERING while the queued delivery retries; it stayed in
# AWAITING_REVIEW (in the review queue, with review buttons that were refused) or VALIDATED for
# the hours the queue may retry. Asked at the start, not where the delivery is queued: a patch
# marker recorded right after a local activity's marker in one workflow task failed replays
# now and then (TMPRL1100 "patch marker encountered ... no corresponding change command", a
# query or a replay test of a ticket waiting in the delivery queue). It implies
# local-failure-fails-ticket too (workflows/local_activities.py), asked the same way otherwise.
PATCH_DELIVERING_STATE = "delivering-state"

# The next version after delivering-state, asked at the start in its place (one marker, which
# implies delivering-state and what it implies): a ticket cancelled while a delivery attempt is
# sending waits for that attempt (Temporal's WAIT_CANCELLATION_COMPLETED on the local first
# attempt and the queued one; the attempt finishes a send it began, activities/delivery). An
# answer that went out ends the ticket COMPLETED with its receipt, the cancellation too late;
# a send that failed, an attempt stopped before it sent and a delivery waiting between retries
# end it CANCELLED (workflows/ticket_delivery.py: nothing is queued, nothing ends in
# DELIVERY_FAILED for a redrive to send); an answer known out but unrecorded ends it
# DELIVERY_FAILED, for a redrive to record. docs/lifecycle.md lists the races left. Before,
# the ticket said CANCELLED, with no delivery, while the attempt could still get the answer to
# the customer.
PATCH_CANCEL_WAITS_FOR_SEND = "cancel-waits-for-send"

# The next version after cancel-waits-for-send, asked at the start in its place (one marker,
# which implies cancel-waits-for-send and what it implies): a ticket going from one agent state
# to another (NEW, CLASSIFIED, TRIAGED, RESOLVING, RESOLVED, VALIDATED) no longer upserts its
# search attributes. Visibility shows the agent state last published (the starter's NEW, or
# RESOLVING after a rework) until the ticket waits for a person or a delivery, or ends; then
# every change is published in one upsert. A straight-through ticket saves three upserts: three
# events of 39 and three billable actions of 12, and the server's visibility writes, the largest
# share of what the ticket costs the server beyond a bare workflow (docs/performance.md).
PATCH_STAGES_AT_REST = "stages-at-rest"

# A cancel request that something else absorbed (an orchestrator child that completed anyway,
# the batch's signal the ticket was sending) no longer lets the ticket go on with more agent
# calls into the review queue: it ends CANCELLED right after the orchestrator's answer, before
# it waits for a person, or as soon as it has told its batch it waits. Before, it waited there
# (an approval then ended it CANCELLED at delivery's check, or it closed UNANSWERED, or with no
# final deadline it never closed). Asked only when a cancel request has come, at those three
# points (workflows/review_gate.py stop_if_cancelled), so no other history changes.
PATCH_ABSORBED_CANCEL_STOPS = "absorbed-cancel-stops"

# A ticket started again after it ended without an answer (a redrive's restart, a resubmission)
# counts what its earlier runs spent against its budget (the memo's earlier_runs_usage, set by
# the starter: shared/operations.py start_ticket): each run started with the whole budget
# before, so a ticket failed and restarted N times could spend N budgets. Asked at the start,
# and only when the memo carries earlier spend: every other ticket's history is unchanged.
PATCH_BUDGET_COUNTS_EARLIER_RUNS = "budget-counts-earlier-runs"

# A ticket started again after runs that ended without an answer (redrive, a resubmission, the
# API) runs its SLA from when the customer first wrote (the memo's first_intake, set by the
# starter: shared/operations.py start_ticket), not from its own start: an Urgent ticket that
# failed in a ten-hour outage and was started again got another hour, was not escalated and
# sorted behind newer tickets in the review queue. Asked at the start (before any command, as
# budget-counts-earlier-runs), and only when the memo carries an earlier intake.
PATCH_SLA_FROM_FIRST_INTAKE = "sla-from-first-intake"

# A ticket whose cancel request reached it in the workflow task that also held its queued
# delivery's end (temporalio then raises CancelledError, not the activity's result) reads the
# delivery ledger's row in a local activity (find_sent_delivery): an answer that went out ends
# the ticket COMPLETED with its receipt, as a cancellation during the send does since
# cancel-waits-for-send; before, it ended CANCELLED with the answer out. Asked only on that path
# (workflows/ticket_delivery.py _sent_all_the_same), so no other history changes.
PATCH_CANCEL_READS_LEDGER = "cancel-reads-ledger"

# A ticket cancelled while a queued delivery attempt whose worker then died had said, in its
# heartbeat, that the answer went out (the ledger's record not yet written): the server does not
# retry an activity whose cancel was requested, and the wait ends in its heartbeat timeout. That
# answer went out: the ticket ends DELIVERY_FAILED for a redrive to record, as when the local
# attempt said so; before, it ended CANCELLED with the customer holding the answer. Asked only
# on that path (workflows/ticket_delivery.py), so no other history changes.
PATCH_CANCEL_HEEDS_SENT_HEARTBEAT = "cancel-heeds-sent-heartbeat"

# A ticket whose triage gave no valid answer, or that the budget stopped before triage (after its
# first call), takes Urgent rather than Medium when its text holds the escalation rules' cues (an
# account taken over, a payment the customer did not make, a lawyer: policy/escalation.py),
# as a model's triage is floored (activities: with_escalation): it waited on a 24-hour SLA where
# the rules give one hour. Asked only when the cues are found on those paths; the cue rules now
# feed this workflow decision, so a change of them needs a patch of its own.
PATCH_FALLBACK_HEEDS_ESCALATION = "fallback-heeds-escalation"

# The same floor for a ticket the budget stops before its run's first call (a ticket started again
# whose earlier runs spent its budget): Urgent, not Medium, when its text holds the escalation
# rules' cues. Asked at the run's start, before the configuration snapshot (a patch marker right
# after a local activity's marker in one workflow task does not replay reliably, so it cannot be
# asked at the hand-off), and only for a ticket with earlier runs' spend and those cues.
PATCH_START_STOP_HEEDS_ESCALATION = "start-stop-heeds-escalation"

# A ticket input with fields this version does not know (sent by a newer starter or API during a
# rolling deploy, or after a rollback) is read without them, which the view names
# (ignored_input_fields); before, the ticket FAILED as invalid input. Asked only for such an
# input, at the start, so no other history changes (workflows/ticket_request.py).
PATCH_IGNORE_UNKNOWN_INPUT_FIELDS = "ignore-unknown-input-fields"

# The budget stopping the agents before the classifier has answered (a ticket started again
# whose earlier runs spent most of its budget; a classifier call whose fallback route would pass
# it) hands the ticket to a person: it is CLASSIFIED as general with a confidence of 0 ("not
# classified"), then AWAITING_REVIEW, where a reviewer writes the answer, rejects it, or asks for
# a rework. Before, the hand-off tried NEW -> AWAITING_REVIEW, which the lifecycle refuses: the
# ticket FAILED on an illegal transition and nobody was asked. Asked at the start for a ticket
# whose memo carries earlier spend (with budget-counts-earlier-runs: the stop then comes in the
# first workflow task, right after the configuration snapshot's local-activity marker, where a
# patch marker does not replay reliably), otherwise only on that path.
PATCH_BUDGET_STOP_CLASSIFIES = "budget-stop-classifies"

# A ticket whose input is invalid and names a batch (a newer batch's input a worker of this
# version cannot read, or a program's) tells the batch it failed: before, it held its place in the
# batch's window until the batch's ten-minute check. Asked only on that path, so no other history
# changes.
PATCH_INVALID_INPUT_TELLS_BATCH = "invalid-input-tells-batch"
