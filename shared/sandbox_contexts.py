"""The SDK's workflow sandbox, without re-entering it for every payload's context.

temporalio 1.35 asks the running workflow, for every payload it encodes or decodes, which
serialization context and which external-store context apply (the workflow's, an activity's, a
child's). In the sandbox each question is an ``exec`` of the same two-line code string (compiled
again each time) under the sandbox's importer (``sys.modules``, ``__import__`` and the builtins
swapped in and back out), around a method that only reads the instance's pending commands. A
py-spy profile of a worker running a swarm put 43% of its busy time outside start-up there,
against 16% in the workflow code itself (docs/performance.md, "The sandbox's payload contexts").

``DirectContextRunner`` is the SDK's ``SandboxedWorkflowRunner`` in every other respect: the
workflow code, its imports and its activations run in the sandbox exactly as before. Only those
two questions are put to the sandboxed instance's object directly: the answer comes from the
same method of the same object; what is skipped is the compile and the importer swap around
code that imports nothing and calls nothing the sandbox restricts.

It reaches into two names the SDK does not publish (``_Instance`` and its
``globals_and_locals``). Where a later SDK lacks them, the instance falls back to the SDK's own
path, and ``tests/workflow/test_sandbox_contexts.py`` fails (on ``direct_path_available``, and
when an answer comes from that fallback), so an upgrade that loses the shortcut is seen rather
than silently slower.
"""

from dataclasses import dataclass
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

try:  # private: see the module's docstring
    from temporalio.worker.workflow_sandbox._runner import _Instance
except ImportError:  # pragma: no cover - an SDK without it takes the SDK's path
    _Instance = None

IN_SANDBOX = "__temporal_in_sandbox"  # the sandboxed instance's name in the sandbox's globals


def direct_path_available() -> bool:
    """Whether this SDK has what the direct path needs."""
    return _Instance is not None and hasattr(_Instance, "get_serialization_context")


if _Instance is not None:

    class _DirectContextInstance(_Instance):  # type: ignore[misc, valid-type]
        """The SDK's sandboxed instance; its two context questions answered without ``exec``."""

        def _in_sandbox(self) -> Any:
            found = getattr(self, "globals_and_locals", {}).get(IN_SANDBOX)
            return found if hasattr(found, "get_external_store_context") else None

        def get_serialization_context(self, command_info: Any) -> Any:
            in_sandbox = self._in_sandbox()
            if in_sandbox is None:
                return super().get_serialization_context(command_info)
            return in_sandbox.get_serialization_context(command_info)

        def get_external_store_context(self, command_info: Any) -> Any:
            in_sandbox = self._in_sandbox()
            if in_sandbox is None:
                return super().get_external_store_context(command_info)
            return in_sandbox.get_external_store_context(command_info)


@dataclass(frozen=True)
class DirectContextRunner(SandboxedWorkflowRunner):
    """``SandboxedWorkflowRunner`` whose instances answer the per-payload context questions
    without re-entering the sandbox (the module's docstring)."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        if not direct_path_available():
            return super().create_instance(det)
        return _DirectContextInstance(det, self.runner_class, self.restrictions)
