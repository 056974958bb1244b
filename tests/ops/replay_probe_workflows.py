"""Test-only workflows for the replay gate's order (tests/ops/test_replay_order.py): one type,
``ReplayProbe``, in two versions. The released one completes at once or waits for a signal; the
changed one fails its first workflow task, so every history the gate replays against it is
named in the report. Their own module with few imports: the workflow sandbox re-imports the
module a workflow is defined in."""

from temporalio import workflow

PROBE = "ReplayProbe"


@workflow.defn(name=PROBE)
class ReplayProbe:
    def __init__(self) -> None:
        self.finished = False

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.run
    async def run(self, wait: bool, patch: str | None = None) -> str:
        if patch is not None:
            workflow.patched(patch)  # recorded in its TemporalChangeVersion search attribute
        if wait:
            await workflow.wait_condition(lambda: self.finished)
        return "done"


@workflow.defn(name=PROBE)
class ReplayProbeChanged:
    @workflow.signal
    def finish(self) -> None:
        pass

    @workflow.run
    async def run(self, wait: bool, patch: str | None = None) -> str:
        raise RuntimeError("every history of the probe fails on this version")
