"""Deterministic workflow code only: no I/O, clocks, randomness, threads or provider SDKs.

This package's ``__init__`` imports nothing on purpose. The workflow sandbox re-imports the module
a workflow is defined in (``workflows.ticket``) for every new workflow run it caches, and with it
this package: when this file imported every workflow module, each new ticket compiled and ran all
six (about a third of a worker's CPU in ``bench llm_rate_limit``). ``ALL_WORKFLOWS`` and the
workflow classes are still importable from here; they load on first use, outside the sandbox.
"""

from typing import Any

_LAZY = {
    "ALL_WORKFLOWS": "workflows.registry",
    "BatchWorkflow": "workflows.batch",
    "OrchestratorWorkflow": "workflows.orchestrator",
    "PayloadGcWorkflow": "workflows.payload_gc",
    "ProviderRateController": "workflows.rate_controller",
    "SubTaskWorkflow": "workflows.subtask",
    "SwarmWorkflow": "workflows.swarm",
    "SwarmChunkWorkflow": "workflows.swarm",
    "TicketWorkflow": "workflows.ticket",
}


def __getattr__(name: str) -> Any:
    # PEP 562: only names not found otherwise. Submodules (``from workflows import options``)
    # fall through to the import system when this raises AttributeError.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workflows' has no attribute {name!r}")
