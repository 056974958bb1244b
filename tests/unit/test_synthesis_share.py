"""What the synthesizer reads of each completed sub-task: an equal share of synthesis_tokens,
never less than a worker's context_tokens. It read each result trimmed to context_tokens (800),
so a writer's answer of 7,000 characters reached it, and the customer's draft, with its middle
replaced by "[... 3,801 characters trimmed ...]"."""

from policy.text_budget import fit_to_tokens
from shared.pipeline_config import OrchestrationConfig
from workflows.orchestrator import synthesis_share


def test_one_result_of_a_few_thousand_characters_is_read_whole() -> None:
    writer = "A long, careful answer. " * 292  # 7,008 characters
    share = synthesis_share(OrchestrationConfig(), 1)
    assert share == 16_000
    assert fit_to_tokens(writer, share) == writer


def test_the_share_divides_the_budget_and_never_falls_below_a_workers() -> None:
    config = OrchestrationConfig(context_tokens=800, synthesis_tokens=16_000)
    assert [synthesis_share(config, n) for n in (1, 2, 8, 20, 50)] == [
        16_000,
        8_000,
        2_000,
        800,
        800,
    ]
    assert synthesis_share(config, 0) == 16_000
