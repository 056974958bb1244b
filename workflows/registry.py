"""Every workflow type the worker registers, in one list."""

from workflows.batch import BatchWorkflow
from workflows.orchestrator import OrchestratorWorkflow
from workflows.payload_gc import PayloadGcWorkflow
from workflows.rate_controller import ProviderRateController
from workflows.subtask import SubTaskWorkflow
from workflows.swarm import SwarmChunkWorkflow, SwarmWorkflow
from workflows.ticket import TicketWorkflow

ALL_WORKFLOWS = [
    TicketWorkflow,
    OrchestratorWorkflow,
    SubTaskWorkflow,
    SwarmWorkflow,
    SwarmChunkWorkflow,
    BatchWorkflow,
    ProviderRateController,
    PayloadGcWorkflow,
]
