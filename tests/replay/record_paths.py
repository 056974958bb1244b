"""Commit histories of patch paths that only a test's fakes reach: a child cancelled on its own,
a provider call out of time mid-attempt, a rate the server would not set, a batch listing a
ticket twice.

``python -m tests.replay.record_histories paths`` runs the tests below with their replay checks
writing every history they replay (``tests.support.temporal.HISTORIES_OUT``), and commits, for
each patch, the smallest history whose markers record it, as
``<workflow type>-paths-<patch>.json``. The replay test then replays it against every later
version of the code, as it does the scenarios' histories.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from temporalio.client import WorkflowHistory

from tests.replay.committed import FOLDER, read_ids, write_ids
from tests.support.temporal import HISTORIES_OUT, patch_ids

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# patch id -> the test that takes its path (pytest node id)
PATH_TESTS: dict[str, str] = {
    "duplicate-in-flight": "tests/workflow/test_batch.py::"
    "test_a_ticket_listed_twice_keeps_its_place_and_its_report",
    "unknown-fields-left-out": "tests/workflow/test_batch.py::"
    "test_a_ticket_with_a_field_of_a_newer_version_is_answered_and_the_field_named",
    "child-cancel-fails-subtask": "tests/workflow/test_orchestrator.py::"
    "test_a_sub_task_cancelled_on_its_own_fails_it_and_the_run_completes",
    "child-cancel-fails-items": "tests/workflow/test_swarm.py::"
    "test_a_chunk_ended_on_its_own_fails_its_items_and_the_rest_carry_on[cancel-cancel]",
    "orchestrator-cancel-falls-back": "tests/workflow/test_handoff.py::"
    "test_an_orchestrator_run_cancelled_on_its_own_falls_back_to_the_resolver",
    "rework-drafts-with-notes": "tests/workflow/test_handoff.py::"
    "test_a_ticket_that_would_pass_its_token_budget_stops_and_waits_for_a_person[complex]",
    "long-synthesis-falls-back": "tests/workflow/test_handoff.py::"
    "test_a_synthesized_answer_longer_than_a_reply_falls_back_to_the_resolver",
    "absorbed-cancel-stops": "tests/workflow/test_absorbed_cancel.py::"
    "test_a_cancel_absorbed_by_the_orchestrator_run_ends_the_ticket_cancelled",
    "absorbed-cancel-ends-swarm": "tests/workflow/test_swarm_cancel.py::"
    "test_a_cancel_a_chunk_absorbed_ends_the_swarm_before_its_next_chunk",
    "stale-review-signal-ignored": "tests/workflow/test_review.py::"
    "test_a_review_signal_made_for_another_wait_or_without_the_draft_is_ignored",
    "reported-cool-down": "tests/integration/test_controller_cool_down.py::"
    "test_a_changed_breaker_cool_down_reaches_a_running_controller",
    "invalid-input-tells-batch": "tests/workflow/test_input_from_a_newer_version.py::"
    "test_an_invalid_input_that_names_its_batch_tells_the_batch_it_failed",
    "subtask-shares": "tests/workflow/test_billing_llm.py::"
    "test_sub_tasks_make_no_fallback_call_past_the_share_of_the_budget_they_hold",
    "cancel-reports-spend": "tests/workflow/test_orchestration_spend.py::"
    "test_an_orchestrator_run_cancelled_on_its_own_bills_its_ticket_what_it_spent",
    "cancelled-orchestration-billed": "tests/workflow/test_orchestration_spend.py::"
    "test_an_orchestrator_run_cancelled_on_its_own_bills_its_ticket_what_it_spent",
    "reported-mode-kept": "tests/integration/test_rate_controller_renewal.py::"
    "test_the_end_of_a_cool_down_follows_the_mode_the_workers_reported",
    "retry-unapplied-rate": "tests/integration/test_rate_controller_renewal.py::"
    "test_a_rate_the_controller_could_not_set_is_set_again_without_waiting_for_reports",
    "unapplied-backoff": "tests/integration/test_rate_controller_renewal.py::"
    "test_a_rate_the_server_keeps_refusing_is_tried_less_and_less_often",
    "worker-call-measured-first": "tests/workflow/test_orchestrator.py::"
    "test_a_budgeted_run_sizes_its_sub_tasks_by_a_worker_call_before_starting_a_second",
    "dependent-call-sized": "tests/workflow/test_orchestrator.py::"
    "test_a_budgeted_run_sizes_a_dependent_sub_task_by_the_results_it_is_handed",
    "handed-text-sized": "tests/workflow/test_orchestrator.py::"
    "test_a_budgeted_run_sizes_the_synthesis_by_the_results_it_is_handed",
    "replaced-counted": "tests/workflow/test_batch_replaced.py::"
    "test_a_ticket_started_again_outside_its_batch_does_not_hold_the_batch",
    "failed-sets-retried": "tests/integration/test_controller_failed_sets.py::"
    "test_a_pause_whose_answer_was_lost_is_undone_when_the_probe_wants_the_old_rate",
    "cancel-during-check": "tests/workflow/test_batch_cancel.py::"
    "test_a_batch_cancelled_during_its_check_starts_no_more_tickets",
    "chunk-id-taken-fails-items": "tests/workflow/test_swarm_chunk_id.py::"
    "test_a_chunk_whose_id_is_taken_fails_its_items_and_the_rest_carry_on",
    "invisible-edit-ignored": "tests/workflow/test_invisible_edit.py::"
    "test_an_edit_nobody_can_see_is_refused_and_its_signal_ignored",
    "internal-edit-ignored": "tests/workflow/test_internal_edit.py::"
    "test_an_edit_labelled_internal_is_refused_and_its_signal_ignored",
    "internal-edit-narrowed": "tests/workflow/test_internal_edit.py::"
    "test_a_signal_whose_edit_mentions_an_internal_note_in_a_sentence_is_applied",
    "tickets-outlive-cancel": "tests/workflow/test_batch_cancel_pending_starts.py::"
    "test_a_batch_cancelled_with_its_starts_in_flight_asks_no_ticket_to_cancel",
    "closes-before-sla": "tests/workflow/test_business_hours_sla.py::"
    "test_a_ticket_whose_sla_ends_after_its_final_deadline_closes_at_the_final_deadline",
    "sla-from-first-intake": "tests/workflow/test_restarted_sla.py::"
    "test_a_ticket_started_again_keeps_the_sla_from_when_the_customer_first_wrote",
    "orchestrator-fallback-within-budget": "tests/workflow/test_orchestrator.py::"
    "test_the_synthesizer_s_backup_is_not_called_once_the_first_spent_the_budget",
    "subtask-cancel-reports-spend": "tests/workflow/test_orchestrator.py::"
    "test_a_sub_task_cancelled_on_its_own_after_a_failed_call_bills_its_run_for_it",
    "cancelled-subtask-billed": "tests/workflow/test_orchestrator.py::"
    "test_a_sub_task_cancelled_on_its_own_after_a_failed_call_bills_its_run_for_it",
    "cancel-ends-subtasks": "tests/workflow/test_orchestration_spend.py::"
    "test_a_run_cancelled_while_a_sub_task_runs_ends_it_and_bills_its_failed_call",
    "cancel-heeds-sent-heartbeat": "tests/delivery/test_cancel_after_sent_heartbeat.py::"
    "test_a_ticket_cancelled_after_a_silent_attempt_said_it_sent_ends_delivery_failed",
    "settled-state-checked": "tests/workflow/test_batch_settled_signal.py::"
    "test_a_settled_signal_with_no_ticket_s_state_is_ignored",
    "restarts-send-whole": "tests/workflow/test_batch_restart_whole.py::"
    "test_a_restarted_ticket_with_a_newer_field_is_started_whole_and_names_it",
    "fallback-heeds-escalation": "tests/workflow/test_fallback_escalation.py::"
    "test_a_ticket_whose_triage_answer_is_invalid_takes_the_escalation_floor",
    "start-stop-heeds-escalation": "tests/workflow/test_fallback_escalation.py::"
    "test_a_ticket_the_budget_stops_before_its_first_call_takes_the_escalation_floor"
    "[escalation-cues]",
    "started-run-is-first": "tests/workflow/test_swarm_started_state.py::"
    "test_a_swarm_started_with_routes_given_calls_the_configured_ones",
    "probe-fresh-failures": "tests/integration/test_controller_probe_leftovers.py::"
    "test_a_call_from_before_the_breaker_opened_failing_during_the_probe_leaves_it_closing",
    "lone-subtask-until-completed": "tests/workflow/test_orchestrator.py::"
    "test_a_budgeted_run_whose_first_sub_task_fails_cheaply_still_runs_the_rest_one_by_one",
    "ticket-config-kept": "tests/workflow/test_orchestrated_config.py::"
    "test_a_complex_tickets_plan_runs_by_the_tickets_snapshot",
}


def _captured(folder: Path) -> list[tuple[WorkflowHistory, int]]:
    found = []
    for path in sorted(folder.glob("*.json")):
        kept = json.loads(path.read_text())
        text = json.dumps(kept["history"])
        found.append((WorkflowHistory.from_json(kept["workflow_id"], text), len(text)))
    return found


def record_paths(only: list[str] | None = None) -> None:
    wanted = {p: t for p, t in PATH_TESTS.items() if not only or p in only}
    with tempfile.TemporaryDirectory() as out:
        env = os.environ | {HISTORIES_OUT: out}
        tests = sorted(set(wanted.values()))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
        subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True)
        captured = _captured(Path(out))
    ids = read_ids()
    missing = []
    for patch in wanted:
        holding = [(size, h) for h, size in captured if patch in patch_ids(h.events)]
        if not holding:
            missing.append(patch)
            continue
        _, history = min(holding, key=lambda found: found[0])
        kind = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
        path = FOLDER / f"{kind.lower()}-paths-{patch}.json"
        path.write_text(history.to_json())
        ids[path.stem] = history.workflow_id
        print(f"wrote {path} ({len(history.events)} events)")
    write_ids(ids)
    if missing:
        raise SystemExit(f"no history recorded these patches: {', '.join(missing)}")
