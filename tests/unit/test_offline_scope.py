"""Text the offline rules must not answer alone: not our product, developer issues, advice."""

import pytest

from activities.providers.offline.scope import (
    asks_for_advice,
    looks_like_developer_issue,
    not_our_product,
)


@pytest.mark.parametrize(
    "text",
    [
        "The ATM kept my card and did not give me the cash.",
        "What exchange rate do you use when I pay abroad?",
        "How do I top up my balance by bank transfer?",
        "My new card still hasn't arrived, it has been two weeks.",
        "I forgot my card PIN, how can I get it?",
    ],
)
def test_questions_for_a_bank_are_not_support_for_this_product(text: str) -> None:
    assert not_our_product(text) == "a question for a bank"


@pytest.mark.parametrize(
    "text",
    ["Write me a poem about the sea.", "What is the weather today in Berlin?"],
)
def test_requests_for_a_general_assistant_are_not_support_for_this_product(text: str) -> None:
    assert not_our_product(text) == "a request for a general assistant"


@pytest.mark.parametrize(
    "text",
    [
        "I was charged twice for my subscription.",
        "Our webhook endpoint times out.",
        "Please update the payment card on file.",
    ],
)
def test_ordinary_support_requests_are_ours(text: str) -> None:
    assert not_our_product(text) is None


GITHUB_ISSUE = """### Describe the bug
Calling `client.sync()` raises an exception.

### Steps to reproduce
```python
client.sync()
```

**Environment**
- OS: Ubuntu 22.04
- Version: 2.3.1
"""
PYTHON_TRACEBACK = """The importer fails on big files:
Traceback (most recent call last):
  File "importer.py", line 12, in <module>
    main()
ValueError: bad row
"""


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(GITHUB_ISSUE, id="issue-template"),
        pytest.param(PYTHON_TRACEBACK, id="traceback"),
    ],
)
def test_a_developer_issue_report_is_recognised(text: str) -> None:
    assert looks_like_developer_issue(text)


def test_a_customer_pasting_a_log_line_is_not_a_developer_issue() -> None:
    text = (
        "Our nightly sync fails. From the log:\n"
        "2025-03-01T10:00:00Z ERROR sync-worker[4100] job 90210 failed: upstream returned 504"
    )

    assert not looks_like_developer_issue(text)


def test_one_weak_marker_alone_is_not_enough() -> None:
    assert not looks_like_developer_issue("# Export broken\nThe CSV export is empty since Monday.")


@pytest.mark.parametrize(
    "text",
    [
        "I am seeking advice on the best practices for securing our data.",
        "Could you share recommendations for tools to analyse our marketing data?",
        "I am inquiring about strategies for growing our brand.",
    ],
)
def test_requests_for_advice_are_recognised(text: str) -> None:
    assert asks_for_advice(text)


def test_a_how_to_question_is_not_a_request_for_advice() -> None:
    assert not asks_for_advice("How do I download my invoices as PDF?")
