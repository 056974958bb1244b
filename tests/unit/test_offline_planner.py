"""The offline planner: research -> analysis -> (code) -> writing -> review, a research branch per
subject (a diamond), and only plans the validator accepts."""

import pytest

from activities.providers.offline.planner import plan
from policy.plan import plan_errors
from shared.orchestration import Plan, PlanRequest, WorkerType

WORKERS = [w.value for w in WorkerType]
INSTRUCTION_PREFIX = "Find the documented facts for: "


def make_plan(task: str, max_nodes: int = 8) -> Plan:
    return plan(PlanRequest(task=task, worker_types=WORKERS, max_nodes=max_nodes))


def shape(result: Plan) -> dict[str, tuple[str, list[str]]]:
    return {t.id: (t.worker, t.depends_on) for t in result.subtasks}


def subjects(result: Plan) -> list[str]:
    return [
        t.instruction.removeprefix(INSTRUCTION_PREFIX)
        for t in result.subtasks
        if t.worker == WorkerType.RESEARCHER
    ]


def ticket_task(subject: str, body: str, articles: str) -> str:
    """The task the ticket workflow hands the orchestrator for a complex ticket."""
    return (
        "Write the reply to the customer for this support ticket, at most 8,000 characters. "
        "Category: Billing; priority: High.\n"
        f"Subject: {subject}\n\n{body}\n\n"
        "Knowledge-base articles found for this ticket (cite them by id):\n"
        f"{articles}"
    )


# ---- shapes --------------------------------------------------------------------------------------


def test_a_simple_task_is_a_chain_with_one_research_step() -> None:
    result = make_plan("Summarise our refund policy for the new support agents.")
    assert shape(result) == {
        "research": ("researcher", []),
        "analyze": ("analyst", ["research"]),
        "write": ("writer", ["analyze"]),
        "review": ("reviewer", ["write"]),
    }
    assert subjects(result) == ["Summarise our refund policy for the new support agents."]


def test_a_comparison_is_a_diamond_of_two_research_branches_joined_by_the_analyst() -> None:
    result = make_plan("Compare the Pro plan and the Team plan for a small company.")
    assert shape(result) == {
        "research-1": ("researcher", []),
        "research-2": ("researcher", []),
        "analyze": ("analyst", ["research-1", "research-2"]),
        "write": ("writer", ["analyze"]),
        "review": ("reviewer", ["write"]),
    }
    assert subjects(result) == ["the Pro plan", "the Team plan for a small company"]


@pytest.mark.parametrize("joiner", ["with", "to", "vs", "versus"])
def test_every_comparison_wording_gives_two_branches(joiner: str) -> None:
    result = make_plan(f"Compare SAML login {joiner} password login.")
    assert subjects(result) == ["SAML login", "password login"]
    assert shape(result)["analyze"] == ("analyst", ["research-1", "research-2"])


def test_several_questions_give_one_research_branch_each() -> None:
    result = make_plan("How do I reset my password? Where can I download my invoice?")
    assert subjects(result) == ["How do I reset my password?", "Where can I download my invoice?"]
    assert shape(result)["analyze"] == ("analyst", ["research-1", "research-2"])


def test_at_most_three_research_branches_for_many_questions() -> None:
    result = make_plan(
        "How do I reset my password? Where can I download my invoice? "
        "Can I change my plan? Why was I charged twice?"
    )
    assert subjects(result) == [
        "How do I reset my password?",
        "Where can I download my invoice?",
        "Can I change my plan?",
    ]
    assert shape(result)["analyze"] == ("analyst", ["research-1", "research-2", "research-3"])


def test_short_questions_do_not_count() -> None:
    # "Why?" and "Really?" have fewer than three words: one real question, no branches.
    result = make_plan("Why? Really? How do I reset my password?")
    assert [t.id for t in result.subtasks if t.worker == WorkerType.RESEARCHER] == ["research"]


def test_questions_in_the_appended_knowledge_base_articles_are_not_branches() -> None:
    task = ticket_task(
        "Refund for my annual plan",
        "I cancelled yesterday. Can I get my money back for the unused months?",
        "[KB-201] Refund policy: How long does a refund take? Which plans can be refunded?",
    )
    result = make_plan(task)
    # One question of the customer's own, so no branches: the subject line is researched.
    assert subjects(result) == ["Refund for my annual plan"]
    assert [t.id for t in result.subtasks if t.worker == WorkerType.RESEARCHER] == ["research"]


def test_the_customer_s_questions_before_the_articles_become_the_branches() -> None:
    task = ticket_task(
        "Invoice and refund",
        "Where can I download last month's invoice?\nCan I get a refund for the duplicate charge?",
        "[KB-202] Invoices: Where are invoices kept? What format are they in?",
    )
    assert subjects(make_plan(task)) == [
        "Where can I download last month's invoice?",
        "Can I get a refund for the duplicate charge?",
    ]


def test_a_task_asking_for_code_adds_a_coder_between_analyst_and_writer() -> None:
    result = make_plan("Write a Python script that downloads every invoice as a PDF.")
    assert shape(result) == {
        "research": ("researcher", []),
        "analyze": ("analyst", ["research"]),
        "code": ("coder", ["analyze"]),
        "write": ("writer", ["analyze", "code"]),
        "review": ("reviewer", ["write"]),
    }
    assert "with code" in result.rationale


def test_a_task_that_only_mentions_an_api_gets_no_coder() -> None:
    result = make_plan("Our API calls return 429 errors since this morning. What changed?")
    assert "code" not in shape(result)
    assert "without code" in result.rationale


# ---- the node limit ------------------------------------------------------------------------------

CODE_AND_QUESTIONS = (
    "Write a Python script that exports invoices. How do I get an API key? "
    "Which endpoint lists invoices? Is there a rate limit on exports?"
)  # 3 research + analyze + code + write + review = 7


@pytest.mark.parametrize(
    ("max_nodes", "ids"),
    [
        (7, ["research-1", "research-2", "research-3", "analyze", "code", "write", "review"]),
        (6, ["research-1", "research-2", "research-3", "analyze", "code", "write"]),
        (5, ["research-1", "research-2", "research-3", "analyze", "write"]),
        (4, ["research-1", "research-2", "analyze", "write"]),
        (3, ["research-1", "analyze", "write"]),
    ],
)
def test_the_node_limit_drops_review_then_code_then_extra_branches(
    max_nodes: int, ids: list[str]
) -> None:
    result = make_plan(CODE_AND_QUESTIONS, max_nodes=max_nodes)
    assert [t.id for t in result.subtasks] == ids
    assert plan_errors(result, WORKERS, max_nodes) == []


def test_dropping_a_step_removes_it_from_every_dependency_list() -> None:
    result = make_plan(CODE_AND_QUESTIONS, max_nodes=4)
    assert shape(result) == {
        "research-1": ("researcher", []),
        "research-2": ("researcher", []),
        "analyze": ("analyst", ["research-1", "research-2"]),
        "write": ("writer", ["analyze"]),
    }


@pytest.mark.parametrize("max_nodes", [1, 2])
def test_a_plan_fits_even_a_very_small_node_limit(max_nodes: int) -> None:
    result = make_plan("Compare the Pro plan and the Team plan.", max_nodes=max_nodes)
    assert plan_errors(result, WORKERS, max_nodes) == []


def test_the_rationale_counts_the_branches_actually_planned() -> None:
    result = make_plan(CODE_AND_QUESTIONS, max_nodes=4)
    assert result.rationale.startswith("offline rules: 2 research branch(es)")


def test_a_ticket_about_a_verification_code_gets_no_coder() -> None:
    task = ticket_task(
        "Lost phone",
        "I need a new verification code because I lost my phone.",
        "[KB-102] Two-factor authentication and lost devices: Use a backup code.",
    )
    assert "code" not in shape(make_plan(task))


# ---- every plan is valid -------------------------------------------------------------------------

TASKS = [
    "Summarise our refund policy.",
    "Compare the Pro plan and the Team plan.",
    "Compare Okta with Azure AD for single sign-on, and write the SAML config script.",
    "How do I reset my password? Where can I download my invoice?",
    CODE_AND_QUESTIONS,
    ticket_task(
        "Charged twice", "Why was I charged twice? When will I get the money back?", "(none)"
    ),
    "Subject: Export broken\n\nThe CSV export shows garbled characters.",
    "x",
]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("max_nodes", [3, 4, 5, 8, 50])
def test_every_plan_passes_the_validator(task: str, max_nodes: int) -> None:
    result = make_plan(task, max_nodes=max_nodes)
    assert plan_errors(result, WORKERS, max_nodes) == []
    assert len(result.subtasks) <= max_nodes
    assert result.subtasks[-1].worker in (WorkerType.WRITER, WorkerType.REVIEWER)
