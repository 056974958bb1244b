"""What a model's answer may hold is cut as it is read (shared/answer_bounds.py): an
OpenAI-compatible server answered a sub-task with 3 MB, which every later prompt, history and
memo carried (a review, 2026-12-07). Cut, never refused: a long answer is still an answer."""

from shared.agents import Draft, Validation
from shared.answer_bounds import MAX_ANSWER_CHARS, MAX_LISTED, MAX_LISTED_CHARS
from shared.orchestration import Synthesis, WorkResult


def test_a_sub_task_s_output_and_sources_are_cut_not_refused() -> None:
    result = WorkResult(
        output="x" * (MAX_ANSWER_CHARS + 1_000_000), sources=["KB-" + "1" * 500] * 80
    )
    assert len(result.output) == MAX_ANSWER_CHARS
    assert len(result.sources) == MAX_LISTED
    assert {len(s) for s in result.sources} == {MAX_LISTED_CHARS}


def test_a_synthesis_stays_too_long_for_a_reply_when_cut() -> None:
    synthesis = Synthesis.model_validate(
        {"answer": "y" * (MAX_ANSWER_CHARS * 2), "gaps": ["g"] * 70, "sources": ["s"] * 70}
    )
    # Past a reply's 8,000 characters still: the long-answer fallback sees it as it was.
    assert len(synthesis.answer) == MAX_ANSWER_CHARS > 8_000
    assert (len(synthesis.gaps), len(synthesis.sources)) == (MAX_LISTED, MAX_LISTED)


def test_a_draft_s_citations_and_a_verdict_s_findings_are_cut() -> None:
    draft = Draft(text="Hello", cited_articles=["KB-101"] * 500)
    verdict = Validation.model_validate(
        {"approved": False, "findings": [{"code": "off_topic", "message": "m"}] * 500}
    )
    assert len(draft.cited_articles) == MAX_LISTED
    assert len(verdict.findings) == MAX_LISTED


def test_answers_within_the_bounds_read_as_they_are() -> None:
    result = WorkResult(output="Findings:\n- one", sources=["KB-101", "KB-102"])
    assert result == WorkResult.model_validate_json(result.model_dump_json())
    assert result.output == "Findings:\n- one" and result.sources == ["KB-101", "KB-102"]
