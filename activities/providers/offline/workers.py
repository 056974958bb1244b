"""Offline specialist workers and synthesizer: templated work grounded in the bundled knowledge
base. They show the orchestration working without a model; their prose is plain on purpose.

A worker that rules cannot do (writing code) says so with a non-retryable error instead of
returning a placeholder as if done: the sub-task fails, the orchestrator skips what depends on
it, and the synthesis names it as missing."""

import re
from typing import Final

from temporalio.exceptions import ApplicationError

from activities.knowledge_base import KnowledgeBase
from activities.providers.offline.planner import FACTS_PREFIX
from activities.providers.offline.review_check import REVIEW_PREFIX, problems_in_review, review
from activities.providers.offline.templates import GREETING, SIGN_OFF
from activities.text import sentences
from shared.agents import Category, KnowledgeQuery
from shared.orchestration import Synthesis, SynthesisRequest, WorkerType, WorkRequest, WorkResult

# Both words anywhere, in either order (two searches: ``reply.*customer`` on "reply reply ..."
# searched on from every "reply", quadratic).
REPLY_WORD = re.compile(r"\breply\b", re.I)
CUSTOMER_WORD = re.compile(r"\bcustomer\b", re.I)


def _research(request: WorkRequest) -> WorkResult:
    kb = KnowledgeBase.bundled()
    found: dict[str, str] = {}
    # The sub-task's own instruction first (each branch researches its subject), the whole task
    # only when that finds nothing.
    for text in (request.subtask.instruction, request.task):
        for category in Category:
            for article in kb.search(KnowledgeQuery(category=category, text=text, limit=2)):
                found.setdefault(article.article_id, f"{article.title}: {article.answer}")
        if found:
            break
    if not found:
        # The planner's instructions begin "Find the documented facts for: ": said once.
        subject = request.subtask.instruction.removeprefix(FACTS_PREFIX)
        return WorkResult(output=f"No documented facts found for: {subject}")
    best = list(found.items())[:3]
    lines = [f"- {fact}" for _, fact in best]
    return WorkResult(output="Findings:\n" + "\n".join(lines), sources=[k for k, _ in best])


def _first_point(output: str) -> str:
    """The first sentence after an output's heading line ("Findings:"), or of the line itself
    when nothing follows it: a one-line answer ending in a line break ("No documented facts
    found for: ...\n", a model's "The window is 30 days.\n") had no sentence after it, and the
    analyst failed with an IndexError on every attempt."""
    heading, _, rest = output.partition("\n")
    found = sentences(rest) or sentences(heading)
    return found[0] if found else ""


def _analyze(request: WorkRequest) -> WorkResult:
    points = [_first_point(item.output) for item in request.context]
    points = [p.lstrip("- ") for p in points if p]
    body = "\n".join(f"- {p}" for p in points) or "- nothing to analyse"
    sources = sorted({s for item in request.context for s in item.sources})
    return WorkResult(
        output=f"Analysis of {len(request.context)} result(s):\n{body}", sources=sources
    )


def _write(request: WorkRequest) -> WorkResult:
    facts = []
    for item in request.context:
        if item.worker in (WorkerType.CODER, WorkerType.REVIEWER):
            continue  # code and review notes are not prose for the reader
        for line in item.output.splitlines():
            line = line.strip().lstrip("- ")
            if line and not line.endswith(":") and line not in facts:
                facts.append(line)
    sources = sorted({s for item in request.context for s in item.sources})
    body = "\n\n".join(facts) or "We could not find documented facts for this yet."
    if REPLY_WORD.search(request.task) and CUSTOMER_WORD.search(request.task):
        return WorkResult(output=f"{GREETING}\n\n{body}\n\n{SIGN_OFF}", sources=sources)
    return WorkResult(output=body, sources=sources)


# The error type a worker raises for work rules cannot do: non-retryable, since no retry and no
# simpler attempt on the same rules can do it either.
CANNOT_DO_ERROR: Final = "OfflineWorkerCannotDoTask"


def _code(request: WorkRequest) -> WorkResult:
    raise ApplicationError(
        f"the offline provider cannot write code for sub-task {request.subtask.id!r}; "
        "route the worker agent to an LLM provider for plans that need code",
        type=CANNOT_DO_ERROR,
        non_retryable=True,
    )


def _review(request: WorkRequest) -> WorkResult:
    return WorkResult(output=review(request.task, request.context))


WORKERS = {
    WorkerType.RESEARCHER: _research,
    WorkerType.ANALYST: _analyze,
    WorkerType.WRITER: _write,
    WorkerType.CODER: _code,
    WorkerType.REVIEWER: _review,
}


def work(request: WorkRequest) -> WorkResult:
    handler = WORKERS.get(WorkerType(request.subtask.worker))
    if handler is None:  # pragma: no cover - plans are validated before any worker runs
        raise ValueError(f"no offline worker for {request.subtask.worker!r}")
    return handler(request)


def synthesize(request: SynthesisRequest) -> Synthesis:
    writers = [r for r in request.results if r.worker == WorkerType.WRITER]
    chosen = writers[-1] if writers else None
    if chosen:
        answer = chosen.output
    else:  # no writer: what the others produced, but never a review's notes about the work
        answer = "\n\n".join(
            r.output for r in request.results if not r.output.startswith(REVIEW_PREFIX)
        )
    if not answer.strip():
        answer = "The team produced no results for this task."
    gaps = [f"{m} did not complete" for m in request.missing]
    # What the reviewer found stays with the result, for whoever uses the answer.
    for r in request.results:
        if r.worker == WorkerType.REVIEWER:
            gaps += [f"review: {problem}" for problem in problems_in_review(r.output)]
    sources = sorted({s for r in request.results for s in r.sources})
    return Synthesis(answer=answer, gaps=gaps, sources=sources)
