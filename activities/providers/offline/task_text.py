"""Reading an orchestration task: the questions it asks, in its own words."""

import re
from typing import Final

# A ticket's task carries its knowledge-base articles after its own text (orchestrated_draft.py).
REFERENCE_MATERIAL: Final = re.compile(r"^Knowledge-base articles", re.MULTILINE)


def task_questions(task: str) -> list[str]:
    """Each question the task asks (three words or more), not those in its reference material."""
    own = REFERENCE_MATERIAL.split(task, maxsplit=1)[0]
    parts = re.split(r"(?<=[.?!])\s+|\n+", own)
    return [p.strip() for p in parts if p.strip().endswith("?") and len(p.split()) >= 3]
