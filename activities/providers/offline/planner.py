"""Offline planner: a fixed research -> analysis -> (code) -> writing -> review shape, with one
research branch per subject (a diamond) when the task compares two things or asks several
questions."""

import re

from activities.providers.offline.task_text import task_questions
from shared.orchestration import Plan, PlanRequest, SubTask, WorkerType

# How a researcher's instruction begins (the researcher's "nothing found" says it once).
FACTS_PREFIX = "Find the documented facts for: "

# Asks for code to be written, not merely mentions an API or a code the customer was sent.
CODE = re.compile(
    r"\b(write|implement|generate|give me|need)\b[^.?!]{0,40}\b(code|script|function|sql|query|"
    r"regex|program)\b",
    re.I,
)
NOT_SOURCE_CODE = re.compile(
    r"\b(verification|security|confirmation|discount|promo|coupon|voucher|gift|postal|zip|"
    r"tracking|error|access|reset|login|sms|2fa|one-time)\s+code\b",
    re.I,
)
# The compared thing starts at its first letter and the run of spaces before the joining word
# is taken whole (``\s++``): "compare" and a long run of spaces took time growing with its
# square times 80 (9 s at 2,000).
COMPARE = re.compile(
    r"\bcompare\s+(\S.{1,79}?)\s++(?:and|with|to|vs\.?|versus)\s+(.{3,80}?)(?:[.?!,;:]|$)", re.I
)


SUBJECT_LINE = re.compile(r"^Subject:\s*(.+)$", re.M)
MAX_RESEARCH_BRANCHES = 3


def _subjects(task: str) -> list[str]:
    """What to research: the two things a comparison names, else each question the task asks
    (a ticket with several questions gets a branch per question), else its subject line or
    first sentence."""
    if found := COMPARE.search(task):
        return [found.group(1).strip(), found.group(2).strip()]
    if len(questions := task_questions(task)) >= 2:
        return [q[:160] for q in questions[:MAX_RESEARCH_BRANCHES]]
    if found := SUBJECT_LINE.search(task):
        return [found.group(1).strip()[:160]]
    first = re.split(r"(?<=[.?!])\s", task.strip(), maxsplit=1)[0]
    return [first[:160]]


def plan(request: PlanRequest) -> Plan:
    subjects = _subjects(request.task)
    research = [
        SubTask(
            id=f"research-{i}" if len(subjects) > 1 else "research",
            worker=WorkerType.RESEARCHER,
            instruction=f"{FACTS_PREFIX}{subject}",
        )
        for i, subject in enumerate(subjects, start=1)
    ]
    tasks = [
        *research,
        SubTask(
            id="analyze",
            worker=WorkerType.ANALYST,
            instruction="Weigh the research and draw the conclusions the task needs.",
            depends_on=[r.id for r in research],
        ),
    ]
    writer_needs = ["analyze"]
    if CODE.search(NOT_SOURCE_CODE.sub("", request.task)):
        tasks.append(
            SubTask(
                id="code",
                worker=WorkerType.CODER,
                instruction="Write the code or configuration the task asks for.",
                depends_on=["analyze"],
            )
        )
        writer_needs.append("code")
    tasks.append(
        SubTask(
            id="write",
            worker=WorkerType.WRITER,
            instruction="Write the answer to the task from the analysis.",
            depends_on=writer_needs,
        )
    )
    tasks.append(
        SubTask(
            id="review",
            worker=WorkerType.REVIEWER,
            instruction="Check the answer against the task and list any problems.",
            depends_on=["write"],
        )
    )
    # Respect the node limit by dropping the optional steps first; at the very least the writer
    # answers on its own.
    for optional in ("review", "code", "research-3", "research-2", "analyze", "research"):
        if len(tasks) <= request.max_nodes:
            break
        dropped = next((t for t in tasks if t.id == optional), None)
        if dropped is None:
            continue
        tasks = [t for t in tasks if t is not dropped]
        for t in tasks:
            if optional in t.depends_on:
                # Whoever needed the dropped step now needs what it needed.
                rest = [d for d in t.depends_on if d != optional]
                t.depends_on = rest + [d for d in dropped.depends_on if d not in rest]
    if len(tasks) > request.max_nodes:  # only "research-1" and "write" can be left here
        tasks = [t for t in tasks if t.worker == WorkerType.WRITER]
        for t in tasks:
            t.depends_on = []
    branches = sum(t.worker == WorkerType.RESEARCHER for t in tasks)
    return Plan(
        subtasks=tasks,
        rationale=f"offline rules: {branches} research branch(es), "
        f"{'with' if any(t.id == 'code' for t in tasks) else 'without'} code",
    )
