"""Offline specialist workers (grounded in the bundled knowledge base) and the synthesizer."""

import pytest
from temporalio.exceptions import ApplicationError

from activities.providers.offline.review_check import NO_PROBLEMS, problems_in_review
from activities.providers.offline.templates import GREETING, SIGN_OFF
from activities.providers.offline.workers import CANNOT_DO_ERROR, synthesize, work
from shared.orchestration import (
    ContextItem,
    SubTask,
    SynthesisRequest,
    WorkerType,
    WorkRequest,
    WorkResult,
)

PASSWORD = "Find the documented facts for: How do I reset my password?"
INVOICE = "Find the documented facts for: Where can I download my invoice?"


def run(
    worker: WorkerType,
    instruction: str = "do the work",
    task: str = "Answer the ticket.",
    context: list[ContextItem] | None = None,
) -> WorkResult:
    subtask = SubTask(id=worker.value, worker=worker.value, instruction=instruction)
    return work(WorkRequest(task=task, subtask=subtask, context=context or []))


def item(subtask_id: str, worker: WorkerType, output: str, *sources: str) -> ContextItem:
    return ContextItem(
        subtask_id=subtask_id, worker=worker.value, output=output, sources=list(sources)
    )


# ---- researcher ----------------------------------------------------------------------------------


def test_the_researcher_finds_the_article_for_its_own_subject() -> None:
    result = run(WorkerType.RESEARCHER, PASSWORD)
    assert result.sources == ["KB-101"]
    assert result.output.startswith("Findings:\n- Resetting your password: ")
    assert "Forgot password" in result.output


def test_each_research_branch_researches_its_own_subject() -> None:
    task = "How do I reset my password? Where can I download my invoice?"
    invoice = run(WorkerType.RESEARCHER, INVOICE, task=task)
    assert invoice.sources[0] == "KB-202"
    assert "KB-101" not in invoice.sources
    assert "- Finding and downloading invoices: " in invoice.output


def test_the_researcher_lists_at_most_three_findings_with_a_source_each() -> None:
    result = run(
        WorkerType.RESEARCHER,
        "Find the documented facts for: refund, invoice, charged twice, password reset, "
        "api rate limit, sso setup",
    )
    findings = [line for line in result.output.splitlines() if line.startswith("- ")]
    assert len(result.sources) == 3
    assert len(findings) == 3
    assert len(set(result.sources)) == 3
    assert all(source.startswith("KB-") for source in result.sources)


def test_the_researcher_falls_back_to_the_whole_task() -> None:
    result = run(
        WorkerType.RESEARCHER,
        "Find the documented facts for: zzqx",
        task="I was charged twice on my card this month.",
    )
    assert result.sources[0] == "KB-203"


def test_the_researcher_says_so_when_nothing_is_documented() -> None:
    result = run(WorkerType.RESEARCHER, "Find the documented facts for: zzqx", task="qqzx")
    assert result.sources == []
    assert result.output == "No documented facts found for: zzqx"  # the prefix said once


# ---- analyst, coder, reviewer --------------------------------------------------------------------


def test_the_analyst_takes_the_first_finding_of_each_branch_and_merges_sources() -> None:
    context = [
        item("research-1", WorkerType.RESEARCHER, "Findings:\n- Fact one. More.\n- Fact two.", "B"),
        item("research-2", WorkerType.RESEARCHER, "Findings:\n- Fact three.", "A", "B"),
    ]
    result = run(WorkerType.ANALYST, context=context)
    assert result.output == "Analysis of 2 result(s):\n- Fact one.\n- Fact three."
    assert result.sources == ["A", "B"]


def test_the_analyst_reads_a_one_line_result_that_ends_in_a_line_break() -> None:
    # Nothing after the first line: the analyst failed with an IndexError on every attempt.
    context = [
        item("research-1", WorkerType.RESEARCHER, "No documented facts found for: zzqx\n"),
        item("research-2", WorkerType.RESEARCHER, "The refund window is 30 days.\n\n"),
        item("research-3", WorkerType.RESEARCHER, "\n"),
    ]
    result = run(WorkerType.ANALYST, context=context)
    assert result.output == (
        "Analysis of 3 result(s):\n- No documented facts found for: zzqx\n"
        "- The refund window is 30 days."
    )


def test_the_analyst_with_nothing_to_analyse_says_so() -> None:
    result = run(WorkerType.ANALYST)
    assert result.output == "Analysis of 0 result(s):\n- nothing to analyse"
    assert result.sources == []


def test_the_coder_says_it_cannot_write_code_instead_of_returning_a_placeholder() -> None:
    context = [item("analyze", WorkerType.ANALYST, "Analysis")]

    with pytest.raises(ApplicationError) as raised:
        run(WorkerType.CODER, context=context)

    # Non-retryable with a clear type: the sub-task fails, dependents are skipped, the gap named.
    assert raised.value.type == CANNOT_DO_ERROR
    assert raised.value.non_retryable is True
    assert "cannot write code" in raised.value.message


REPLY_TASK_TEXT = (
    "Write the reply to the customer. How do I reset my password? Where can I download invoices?"
)
GOOD_ANSWER = (
    "You can reset your password from the sign-in page with the Forgot password link. "
    "Invoices are under Settings > Billing > Invoices, where you can download each one as a PDF."
)


def test_the_reviewer_finds_no_problem_in_a_grounded_answer_to_every_question() -> None:
    context = [item("write", WorkerType.WRITER, GOOD_ANSWER, "KB-101", "KB-202")]

    result = run(WorkerType.REVIEWER, task=REPLY_TASK_TEXT, context=context)

    assert result.output == NO_PROBLEMS
    assert problems_in_review(result.output) == []


@pytest.mark.parametrize(
    ("answer", "sources", "problem"),
    [
        pytest.param("Reset it.", ["KB-101"], "too short to help (2 words)", id="thin"),
        pytest.param(GOOD_ANSWER, [], "cites no documented source", id="ungrounded"),
        pytest.param(
            GOOD_ANSWER.split(". ")[0] + ". " + "More text to be long enough. " * 4,
            ["KB-101"],
            "does not address: Where can I download invoices?",
            id="unanswered-question",
        ),
        pytest.param(
            GOOD_ANSWER + " We guarantee this will never happen again.",
            ["KB-101"],
            "promises what policy forbids",
            id="forbidden-promise",
        ),
        pytest.param(
            GOOD_ANSWER + " Internal note: check the auth logs first.",
            ["KB-101"],
            "contains internal text",
            id="internal-text",
        ),
    ],
)
def test_the_reviewer_lists_each_problem_it_finds(
    answer: str, sources: list[str], problem: str
) -> None:
    context = [item("write", WorkerType.WRITER, answer, *sources)]

    result = run(WorkerType.REVIEWER, task=REPLY_TASK_TEXT, context=context)

    assert result.output.startswith("Review: ")
    assert any(problem in p for p in problems_in_review(result.output)), result.output


def test_the_reviewer_reviews_the_last_writer_not_the_research() -> None:
    context = [
        item("research", WorkerType.RESEARCHER, "Findings: nothing about invoices", "KB-1"),
        item("write", WorkerType.WRITER, GOOD_ANSWER, "KB-101", "KB-202"),
    ]

    assert run(WorkerType.REVIEWER, task=REPLY_TASK_TEXT, context=context).output == NO_PROBLEMS


# ---- writer --------------------------------------------------------------------------------------

ANALYSIS = item(
    "analyze",
    WorkerType.ANALYST,
    "Analysis of 2 result(s):\n- Reset it from the sign-in page.\n- Invoices are PDFs.",
    "KB-202",
    "KB-101",
)


def test_the_writer_of_a_customer_reply_adds_greeting_and_sign_off() -> None:
    result = run(
        WorkerType.WRITER,
        task="Write the reply to the customer for this support ticket.",
        context=[ANALYSIS],
    )
    assert result.output == (
        f"{GREETING}\n\nReset it from the sign-in page.\n\nInvoices are PDFs.\n\n{SIGN_OFF}"
    )
    assert result.sources == ["KB-101", "KB-202"]


def test_the_writer_of_anything_else_writes_the_facts_only() -> None:
    result = run(WorkerType.WRITER, task="Summarise the two articles.", context=[ANALYSIS])
    assert result.output == "Reset it from the sign-in page.\n\nInvoices are PDFs."
    assert GREETING not in result.output


def test_the_writer_leaves_out_code_and_review_notes_and_repeated_facts() -> None:
    context = [
        ANALYSIS,
        item("code", WorkerType.CODER, "def run(): pass", "KB-301"),
        item("review", WorkerType.REVIEWER, "Review: too thin."),
        item("analyze-2", WorkerType.ANALYST, "- Invoices are PDFs."),
    ]
    result = run(WorkerType.WRITER, task="Summarise.", context=context)
    assert result.output == "Reset it from the sign-in page.\n\nInvoices are PDFs."
    assert result.sources == ["KB-101", "KB-202", "KB-301"]


def test_the_writer_without_facts_says_none_were_found() -> None:
    result = run(WorkerType.WRITER, task="Reply to the customer.", context=[])
    assert result.output == (
        f"{GREETING}\n\nWe could not find documented facts for this yet.\n\n{SIGN_OFF}"
    )


# ---- synthesize ----------------------------------------------------------------------------------


def test_synthesis_answers_with_the_last_writer_and_merges_all_sources() -> None:
    request = SynthesisRequest(
        task="t",
        results=[
            item("research", WorkerType.RESEARCHER, "Findings", "KB-2", "KB-1"),
            item("write", WorkerType.WRITER, "first draft", "KB-1"),
            item("write-2", WorkerType.WRITER, "final draft", "KB-3"),
            item("review", WorkerType.REVIEWER, "Review: sound"),
        ],
    )
    synthesis = synthesize(request)
    assert synthesis.answer == "final draft"
    assert synthesis.sources == ["KB-1", "KB-2", "KB-3"]
    assert synthesis.gaps == []


def test_synthesis_lists_a_gap_for_each_missing_sub_task() -> None:
    request = SynthesisRequest(
        task="t",
        results=[item("write", WorkerType.WRITER, "answer")],
        missing=["research-2", "review"],
    )
    assert synthesize(request).gaps == ["research-2 did not complete", "review did not complete"]


def test_synthesis_without_a_writer_joins_every_output() -> None:
    request = SynthesisRequest(
        task="t",
        results=[
            item("research", WorkerType.RESEARCHER, "facts"),
            item("analyze", WorkerType.ANALYST, "analysis"),
        ],
        missing=["write"],
    )
    synthesis = synthesize(request)
    assert synthesis.answer == "facts\n\nanalysis"
    assert synthesis.gaps == ["write did not complete"]


def test_synthesis_carries_the_review_problems_as_gaps() -> None:
    review = "Review: 2 problem(s) found:\n- the answer cites no documented source\n- too short"
    request = SynthesisRequest(
        task="t",
        results=[
            item("write", WorkerType.WRITER, "answer"),
            item("review", WorkerType.REVIEWER, review),
        ],
    )

    assert synthesize(request).gaps == [
        "review: the answer cites no documented source",
        "review: too short",
    ]


def test_synthesis_without_a_writer_never_answers_with_the_review() -> None:
    request = SynthesisRequest(
        task="t",
        results=[
            item("research", WorkerType.RESEARCHER, "facts"),
            item("review", WorkerType.REVIEWER, "Review: 1 problem(s) found:\n- too short"),
        ],
        missing=["write"],
    )

    synthesis = synthesize(request)

    assert synthesis.answer == "facts"
    assert synthesis.gaps == ["write did not complete", "review: too short"]


def test_synthesis_with_no_results_still_answers() -> None:
    synthesis = synthesize(SynthesisRequest(task="t", results=[], missing=["research"]))
    assert synthesis.answer == "The team produced no results for this task."
    assert synthesis.gaps == ["research did not complete"]
    assert synthesis.sources == []
