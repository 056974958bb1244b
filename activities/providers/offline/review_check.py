"""The offline reviewer's checks: what an answer must do before anyone relies on it.

It reviews the writer's answer (or, with no writer, everything it was given) against the task:
long enough to help, grounded in a source, every question of the task addressed, no promise
support policy forbids and no internal text. Its output lists each problem on its own line, so
the synthesizer can carry them with the result."""

from typing import Final

from activities.providers.offline.task_text import task_questions
from activities.providers.offline.templates import BOILERPLATE_WORDS
from activities.providers.offline.validator import forbidden_promises
from activities.text import content_words
from policy.internal_text import INTERNAL_MARKERS, as_read
from shared.orchestration import ContextItem, WorkerType

REVIEW_PREFIX: Final = "Review:"
NO_PROBLEMS: Final = f"{REVIEW_PREFIX} no problems found"
MIN_ANSWER_WORDS: Final = 20


def _reviewed(context: list[ContextItem]) -> list[ContextItem]:
    writers = [item for item in context if item.worker == WorkerType.WRITER]
    return writers[-1:] or [item for item in context if item.worker != WorkerType.REVIEWER]


def review_problems(task: str, context: list[ContextItem]) -> list[str]:
    reviewed = _reviewed(context)
    answer = "\n\n".join(item.output for item in reviewed)
    problems: list[str] = []
    words = len(answer.split())
    if words < MIN_ANSWER_WORDS:
        problems.append(f"the answer is too short to help ({words} words)")
    if not any(item.sources for item in reviewed):
        problems.append("the answer cites no documented source")
    said = content_words(answer) - BOILERPLATE_WORDS
    for question in task_questions(task):
        if not content_words(question) & said:
            problems.append(f"the answer does not address: {question[:160]}")
    for promise in forbidden_promises(as_read(answer))[:2]:
        problems.append(f"the answer promises what policy forbids: {promise[:160]}")
    if INTERNAL_MARKERS.search(as_read(answer)):
        problems.append("the answer contains internal text")
    return problems


def review(task: str, context: list[ContextItem]) -> str:
    problems = review_problems(task, context)
    if not problems:
        return NO_PROBLEMS
    lines = "\n".join(f"- {p}" for p in problems)
    return f"{REVIEW_PREFIX} {len(problems)} problem(s) found:\n{lines}"


def problems_in_review(output: str) -> list[str]:
    """The problems a review listed (one per "- " line), none when it found none."""
    if not output.startswith(REVIEW_PREFIX):
        return []
    return [line[2:].strip() for line in output.splitlines()[1:] if line.startswith("- ")]
