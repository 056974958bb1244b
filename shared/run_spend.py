"""What a ticket spent over all its runs, as the memo says it.

A ticket's run publishes its own usage totals in its memo (``usage``, written when it settles:
workflows/ticket_record.py). A FAILED ticket that ``redrive`` starts again is a new run that
begins with nothing spent, and the listings show a ticket's newest run only: what the failed run
paid for would drop out of ``report``. So the restart's start request carries it in the memo
(``earlier_runs_usage``, including what the runs before that one carried), and every total read
from a memo adds the two (``spent``). A redrive's reset (DELIVERY_FAILED) needs none of this: the
reset run keeps the history, and the usage totals, of the run it replaced.
"""

from typing import Any

from pydantic import BaseModel, Field

from shared import search_attributes as sa

_COUNTS = ("tokens", "cost_usd", "calls", "trimmed_tokens", "estimated_tokens")
_AGENT_COUNTS = ("tokens", "estimated_tokens", "cost_usd", "calls")


def _added(a: dict[str, Any], b: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: _number(a.get(k)) + _number(b.get(k)) for k in keys}


def _number(value: Any) -> int | float:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0


def merged(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """Two usage totals (the memo's shape) added up; None when neither has any."""
    a, b = (side if isinstance(side, dict) else {} for side in (a, b))
    if not a and not b:
        return None
    total = _added(a, b, _COUNTS)
    total["cost_usd"] = round(total["cost_usd"], 6)
    agents: dict[str, Any] = {}
    for side in (a, b):
        for role, counts in (side.get("agents") or {}).items():
            if isinstance(counts, dict):
                agents[role] = _added(agents.get(role, {}), counts, _AGENT_COUNTS)
                agents[role]["cost_usd"] = round(agents[role]["cost_usd"], 6)
    total["agents"] = agents
    total["runs"] = int(_number(a.get("runs"))) + int(_number(b.get("runs")))
    return total


def spent(memo: dict[str, Any]) -> dict[str, Any]:
    """What the ticket spent: this run's usage and what the runs it replaced carried."""
    return merged(memo.get(sa.MEMO_USAGE), memo.get(sa.MEMO_EARLIER_USAGE)) or {}


def carried_forward(memo: dict[str, Any]) -> dict[str, Any] | None:
    """What a run that replaces this one starts with: everything spent so far, this run counted
    among the earlier runs. None when nothing was spent."""
    so_far = merged(memo.get(sa.MEMO_USAGE), memo.get(sa.MEMO_EARLIER_USAGE))
    if so_far is None:
        return None
    so_far["runs"] += 1
    return so_far


class EarlierRuns(BaseModel):
    """What the runs a ticket's current run replaced spent: shown beside the run's own usage
    (``show``, ``GET /tickets/{id}``); ``list``, ``report`` and the listings add it in."""

    runs: int = Field(description="how many earlier runs")
    calls: int = Field(description="their agent calls")
    tokens: int
    estimated_tokens: int = Field(description="of tokens, estimated (characters / 4)")
    cost_usd: float

    @classmethod
    def of(cls, memo: dict[str, Any]) -> "EarlierRuns | None":
        """From a run's memo; None when the run replaced none that spent anything."""
        earlier = merged(memo.get(sa.MEMO_EARLIER_USAGE), None)
        if earlier is None:
            return None
        return cls(
            runs=max(earlier["runs"], 1),
            calls=int(earlier["calls"]),
            tokens=int(earlier["tokens"]),
            estimated_tokens=int(earlier["estimated_tokens"]),
            cost_usd=earlier["cost_usd"],
        )
