"""A triage answer with more cues than kept is read with its first ones: a 21st cue cost the
call a repair round, and a second miss dropped the whole triage (an Urgent outage taken as
Medium), for a list nothing that decides reads."""

from activities.agent_specs import TRIAGE
from shared.agents import MAX_CUES, Priority
from tests.providers.conftest import MODELS, MakeProvider
from tests.providers.helpers import request_for
from tests.support.fake_llm import FakeLLMServer, Reply


async def test_a_triage_with_too_many_cues_is_read_without_a_repair_round(
    fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    cues = [f"cue-{n}" for n in range(MAX_CUES + 5)]
    fake.push(Reply(output={"priority": "Urgent", "rationale": "outage", "cues": cues}))
    provider = make_llm_provider("openai")

    reply = await provider.run(TRIAGE, request_for(TRIAGE), MODELS["openai"])

    assert reply.output.priority is Priority.URGENT
    assert reply.output.cues == cues[:MAX_CUES]
    assert reply.usage.requests == 1
    assert "at most 20" in TRIAGE.instructions
