"""The batch workflow's patches (workflow.patched ids), each with what it changed;
docs/versioning.md lists them with their replay tests."""

# Groups cut at the byte budget too (a group of long non-ASCII tickets terminated the batch).
BYTE_BOUNDED_GROUPS = "byte-bounded-groups"
# Groups cut by the tickets' encoded size too (JSON escapes a control character as six bytes:
# about 35 tickets of 20,000 x \x01 passed the 4 MB message limit and terminated the batch).
# Asked only when the encoded size cuts where the text's bytes did not.
ENCODED_SIZE_GROUPS = "encoded-size-groups"
# A ticket listed again while its first listing is in flight is counted as already known without
# a second child start (whose refusal took the first one's place out of the window). Asked only
# for such a duplicate, so no other history changes.
DUPLICATE_IN_FLIGHT = "duplicate-in-flight"
# A ticket whose id an ended run holds (failed, terminated, cancelled, timed out) is started again
# as `submit` starts it (an activity: the ended run's memo is the server's), carrying what its
# runs spent and naming the runs it replaces, so an answer one of them sent is not sent twice.
# The child start refuses any existing id now (it silently replaced an ended run, knowing none
# of that); the refusal's handling is asked only when a start is refused, so no other history
# changes (the refused start and the reuse policy are the same command either way).
RESTARTS_AS_SUBMITTED = "restarts-as-submitted"
# A group's refused starts are started again by one activity after the group's starts, not one
# activity each: a batch resubmitted after its tickets completed ran an activity per ticket.
# Asked only at a refusal, after RESTARTS_AS_SUBMITTED answered yes.
GROUPED_RESTARTS = "grouped-restarts"
# A ticket of the input with fields this version does not know (a newer starter's, during a
# rolling deploy or after a rollback) is started with its input whole, for its workflow to leave
# them out and name them (workflows/ticket_request.py); before, it was counted INVALID. Asked
# only for an input with such a ticket.
UNKNOWN_FIELDS_LEFT_OUT = "unknown-fields-left-out"
# A cancel that reaches the batch while its check of the tickets in flight runs ends the batch
# as cancelled; before, the check's cancellation was taken for a failed check, the cancel was
# used up, and the batch went on starting (and paying for) every ticket left. Asked only then.
CANCEL_DURING_CHECK = "cancel-during-check"
# A batch started with more than MAX_BATCH_TICKETS tickets (by a client other than the CLI, whose
# file holds at most as many) fails at once, saying why, as a swarm does; it took any number.
# Asked only then, in a batch's first run: every other run records no marker, and a batch
# started before that is past its first run keeps going through its later runs (one reset to
# its first workflow task is a new first run, and fails as a new batch would).
BATCH_REFUSES_TOO_MANY = "batch-refuses-too-many"
# A ticket_settled signal whose state is none a ticket or the batch's check reports (anyone who
# may signal the batch can send one) is ignored: its state, of any size, became a key of the
# settled counts, crossed every continue-as-new, showed in progress and the result, and could
# hide a failure from the count the exit code reads. Asked only for such a signal.
SETTLED_STATE_CHECKED = "settled-state-checked"
# A refused ticket whose child start sent its input whole (unknown-fields-left-out) is started
# again whole, for its workflow to name those fields (and a newer worker to read them); its input
# counts in the restart activity's size, which may cut a group into more activities. Before, the
# restart sent the ticket as this version reads it, and the fields went unnamed. Asked only for a
# group with such a ticket.
RESTARTS_SEND_WHOLE = "restarts-send-whole"
# A batch started (not continued as new) with more tickets than a batch takes and a later run's
# position, runs or tickets in flight in its state (by a client other than the CLI) is refused as
# a first run is: that state skipped the refusal. Asked only for such a start.
BATCH_STARTED_RUN_IS_FIRST = "batch-started-run-is-first"
# The check's REPLACED (a ticket an operator ended and started again outside the batch) is
# counted, freeing its place. A batch run by a worker from before it ignored the state as no
# ticket's (settled-state-checked) and kept the place: a new activity worker's REPLACED reaching
# an old batch worker in a rolling deploy is replayed so. Asked only for a REPLACED report.
REPLACED_COUNTED = "replaced-counted"
# A batch's child starts leave the ticket alone when the batch is cancelled (the SDK's
# ChildWorkflowCancellationType.ABANDON): the default, WAIT_CANCELLATION_COMPLETED, made a cancel
# that reached the batch while a group's starts were in flight (or resolved in the same task)
# send each of those tickets a RequestCancelExternalWorkflowExecution, which the server dropped
# only because the batch closed in that same task. Asked at each run's first child start (the
# type is an attribute of the start that core reads only when the start's await is cancelled):
# a run whose history has no marker keeps the default, and its cancel requests, on replay.
TICKETS_OUTLIVE_CANCEL = "tickets-outlive-cancel"
