"""Swarm: many items, one agent, a bounded number in flight, results validated and summarised."""

from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from shared.agents import AgentRoute, Usage
from shared.pipeline_config import AgentTimeouts

# Items per child workflow: with one route, a chunk's history stays well under 10,000 events (a
# call is about 3 activity events and up to 3 of workflow tasks). Fallback routes add a call
# each for an item whose route failed, and chunks are cut by bytes (items x routes), so a chunk
# of short items falling through ten routes could near Temporal's 51,200 (docs/fanout.md).
MAX_CHUNK_SIZE = 1_000
# The most items one swarm takes. Every result crosses each continue-as-new in the parent's
# state, and a run's first workflow task reads them all back: with 50,000 items the last run's
# took 2.1 s on two cores before items were read a chunk at a time, past the SDK's 2 s deadlock
# limit, failing that task for good (the swarm stalled), and 1.4 s since. At this limit, 0.46 s
# (docs/fanout.md). Split a larger input.
MAX_SWARM_ITEMS = 20_000
# A key point is cut to this many characters (each result crosses every continue-as-new).
MAX_KEY_POINT_CHARS = 300


class SwarmItem(BaseModel):
    item_id: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=20_000)


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"
    MIXED = "mixed"


class ReviewInsights(BaseModel):
    """What the insights agent extracts from one product review."""

    sentiment: Sentiment
    key_points: list[str] = Field(min_length=1, max_length=5)

    @field_validator("key_points", mode="before")
    @classmethod
    def _cut_points(cls, value: object) -> object:
        # Each cut to MAX_KEY_POINT_CHARS: a review is untrusted text and may ask for long ones
        # (an answer each of the model's whole output), and a swarm's results cross every
        # continue-as-new: 20,000 results grew from 4.6 MB to 163 MB (a review, 2026-12-07).
        if isinstance(value, list):
            return [p[:MAX_KEY_POINT_CHARS] if isinstance(p, str) else p for p in value]
        return value


class InsightRequest(BaseModel):
    item: SwarmItem
    route: AgentRoute | None = None


class ItemResult(BaseModel):
    item_id: str
    ok: bool
    output: ReviewInsights | None = None
    error: str | None = None
    usage: Usage | None = None


class SwarmSettings(BaseModel):
    concurrency: int = Field(default=20, ge=1, le=500)
    chunk_size: int = Field(default=500, ge=1, le=MAX_CHUNK_SIZE)
    # The parent continues as new after this many chunks, so its history stays small.
    chunks_per_run: int = Field(default=10, ge=1, le=100)
    # More failures than this share fails the run; fewer complete it with the failures listed.
    max_failure_rate: float = Field(default=0.1, ge=0.0, le=1.0, allow_inf_nan=False)


class SwarmTotals(BaseModel):
    """Carried across continue-as-new: everything done so far."""

    results: list[ItemResult] = Field(default_factory=list)
    runs: int = 1
    # Results kept from an earlier run (SwarmState.carried) whose entries were dropped from
    # ``carried`` once no item left needed them; those still there are counted from it.
    reused: int = Field(default=0, ge=0)


class SwarmState(BaseModel):
    """Carried across continue-as-new (the items travel as their own argument)."""

    settings: SwarmSettings = Field(default_factory=SwarmSettings)
    next_chunk: int = 0
    totals: SwarmTotals = Field(default_factory=SwarmTotals)
    # Loaded once by the first run and carried on: every run and chunk uses the same routes.
    routes: list[AgentRoute] | None = None
    timeouts: AgentTimeouts | None = None
    # Items an earlier run under this id (same items; it failed, or was cancelled or terminated)
    # analysed successfully, by item id: kept as they are, not analysed and paid for again.
    carried: dict[str, ItemResult] = Field(default_factory=dict)
    # The run this one was continued as new from, written by that run as it continued (a run
    # started with this state is a first run: workflows/run_chain.py).
    continued_from: str | None = None


class SwarmChunkInput(BaseModel):
    items: list[SwarmItem]
    concurrency: int
    routes: list[AgentRoute]
    timeouts: AgentTimeouts


class SwarmChunkResult(BaseModel):
    results: list[ItemResult]


class SwarmProgress(BaseModel):
    total: int
    done: int
    failed: int
    running_chunk: str | None = None  # the child workflow to ask for progress within a chunk


class ItemFailure(BaseModel):
    item_id: str
    reason: str


class SwarmResult(BaseModel):
    total: int
    succeeded: int
    failed: int
    success_rate: float
    failures: list[ItemFailure]
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_p99: float
    tokens: int
    cost_usd: float
    runs: int  # 1 + the number of times the parent continued as new
    outputs: list[ItemResult]
    # Of the succeeded, those an earlier run analysed (their usage is counted in tokens and
    # cost: what these results cost, not what this run spent).
    reused: int = 0
